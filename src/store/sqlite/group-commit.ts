// Group commit: every mutating call issued in the same turn of the event loop runs inside one open
// transaction; one COMMIT (and one fsync, with sync full) then acknowledges them all. Owns the
// transaction boundaries only; the operations and the in-memory state belong to the store.

import type { Database, Statement } from "bun:sqlite";
import { BrokerError, ErrorCode } from "../../protocol/errors.ts";

export type FlushOn = "immediate" | "microtask";

export interface GroupCommitOptions {
  db: Database;
  /**
   * When the open group is committed: "immediate" (setImmediate, after I/O callbacks of this loop
   * turn: bigger groups under load) or "microtask" (as soon as the current job ends: lower latency).
   */
  flushOn: FlushOn;
  /** Test seam: runs just before COMMIT; a throw is treated as a failed commit. */
  beforeCommit?: () => void;
  /** After a rollback: the owner must make its memory match the database again. */
  onRolledBack: (err: unknown) => void;
  /** After each successful commit, with how many operations it acknowledged. */
  onCommitted: (ops: number, commitMs: number) => void;
}

const COMMIT_SAMPLES = 8192;

export interface CommitFigures {
  commits: number;
  /** Operations acknowledged by those commits. */
  ops: number;
  /** COMMIT durations over the last COMMIT_SAMPLES commits, in ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommit {
  private readonly begin: Statement;
  private readonly commit: Statement;
  private readonly rollback: Statement;
  private open = false;
  private waiters: Waiter[] = [];
  private settleWaiters: (() => void)[] = [];
  private readonly commitMs = new Float64Array(COMMIT_SAMPLES);
  private commits = 0;
  private ops = 0;

  constructor(private readonly options: GroupCommitOptions) {
    this.begin = options.db.prepare("BEGIN");
    this.commit = options.db.prepare("COMMIT");
    this.rollback = options.db.prepare("ROLLBACK");
  }

  /** True while a group is open (writes issued, not yet committed). */
  get isOpen(): boolean {
    return this.open;
  }

  /**
   * Runs `op` now inside the open group and resolves with its value once the group commits.
   * `op` must throw BrokerErrors only before it writes: such an error rejects just this call.
   * Any other throw is a storage failure: the whole group is rolled back and rejected.
   */
  run<T>(op: () => T): Promise<T> {
    if (!this.open) {
      try {
        this.begin.run();
      } catch (err) {
        return Promise.reject(storageUnavailable(err));
      }
      this.open = true;
      if (this.options.flushOn === "microtask") queueMicrotask(() => this.flush());
      else setImmediate(() => this.flush());
    }
    let value: T;
    try {
      value = op();
    } catch (err) {
      if (err instanceof BrokerError) return Promise.reject(err);
      const failure = storageUnavailable(err);
      this.fail(err);
      return Promise.reject(failure);
    }
    return new Promise<T>((resolve, reject) => {
      this.waiters.push({ resolve: () => resolve(value), reject });
    });
  }

  figures(): CommitFigures {
    const n = Math.min(this.commits, COMMIT_SAMPLES);
    const samples = Array.from(this.commitMs.subarray(0, n)).sort((a, b) => a - b);
    const at = (q: number): number => samples[Math.min(n - 1, Math.floor(q * n))] ?? 0;
    return { commits: this.commits, ops: this.ops, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: samples[n - 1] ?? 0 };
  }

  /** Resolves once the open group (if any) has committed or failed. */
  settled(): Promise<void> {
    if (!this.open) return Promise.resolve();
    return new Promise((resolve) => this.settleWaiters.push(resolve));
  }

  /** Commits the open group now. */
  flush(): void {
    if (!this.open) return;
    const waiters = this.waiters;
    this.waiters = [];
    const startMs = performance.now();
    try {
      this.options.beforeCommit?.();
      this.commit.run();
    } catch (err) {
      this.waiters = waiters;
      this.fail(err);
      return;
    }
    this.open = false;
    const commitMs = performance.now() - startMs;
    this.commitMs[this.commits % COMMIT_SAMPLES] = commitMs;
    this.commits++;
    this.ops += waiters.length;
    // Acknowledge first: nothing the owner's hook does may leave a committed caller waiting.
    for (const w of waiters) w.resolve();
    this.settle();
    this.options.onCommitted(waiters.length, commitMs);
  }

  private fail(err: unknown): void {
    // SQLite rolls some failures back by itself (e.g. SQLITE_FULL); only roll back what is still open.
    if (this.options.db.inTransaction) {
      try {
        this.rollback.run();
      } catch {
        // Nothing more to undo: the owner rebuilds from what the file holds either way.
      }
    }
    this.open = false;
    const waiters = this.waiters;
    this.waiters = [];
    this.options.onRolledBack(err);
    const failure = storageUnavailable(err);
    for (const w of waiters) w.reject(failure);
    this.settle();
  }

  private settle(): void {
    const settleWaiters = this.settleWaiters;
    this.settleWaiters = [];
    for (const s of settleWaiters) s();
  }
}

export function storageUnavailable(cause: unknown): BrokerError {
  const code = (cause as { code?: unknown })?.code;
  const what = typeof code === "string" ? code : String((cause as Error)?.message ?? cause);
  return new BrokerError(ErrorCode.StorageUnavailable, `the store could not commit (${what}); nothing in this group was acknowledged`, {
    retryAfterMs: 1000,
    cause,
  });
}
