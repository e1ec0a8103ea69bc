// Group commit: every mutating call issued in the same turn of the event loop runs inside one open
// transaction; one COMMIT then acknowledges them all. With a `sync` (sync full) the acknowledgement
// waits for an fsync that runs off the event loop, and the groups committed while one fsync is in
// flight share the next: the event loop never waits for the disk. A group of operations that may
// wait (results) can be held briefly for a submit to share its COMMIT. Owns the transaction boundaries
// and acknowledgements only; the operations and the in-memory state belong to the store.

import type { Database, Statement } from "bun:sqlite";
import { BrokerError, ErrorCode } from "../../protocol/errors.ts";
import { KILL_POINTS, killPoint } from "./kill-points.ts";

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
  /**
   * True when the open group must commit at its flush even while a sync is in flight (it made
   * tasks ready: workers get them at COMMIT, before any sync). Other groups wait for that sync.
   */
  commitAtOnce?: () => boolean;
  /**
   * How long a group of operations that may wait (run(op, true): results of task runs) can stay
   * open after its flush for the next urgent operation (a submit), in ms: the two share one COMMIT
   * and one fsync instead of one each. It waits only when urgent work is likely to come within
   * that time (see companyLikely). 0 (default): it commits at its flush, or when the sync in
   * flight returns. Its acknowledgement is still only after a sync that covers it.
   */
  mayWaitMs?: number;
  /** After a rollback: the owner must make its memory match the database again. */
  onRolledBack: (err: unknown) => void;
  /** After each successful COMMIT (visible to reads, not yet acknowledged when there is a `sync`). */
  onCommitted: (ops: number) => void;
  /** After a group's operations were acknowledged, with the time from its COMMIT to then. */
  onAcknowledged?: (ops: number, commitMs: number) => void;
  /**
   * Makes everything committed so far durable without blocking the event loop (an fdatasync of
   * the WAL on a thread-pool thread) and calls back once it is, or with the error. Without it a
   * COMMIT acknowledges at once (sync interval, or SQLite syncing inside COMMIT).
   */
  sync?: (done: (err: Error | null) => void) => void;
  /**
   * A sync failed: groups it covered are committed in memory but may not be on disk, and after a
   * failed fsync the kernel may have dropped the pages, so no later sync can be trusted either.
   * Every later group is rejected; the owner should stop and let recovery read the file.
   */
  onSyncFailed?: (err: unknown) => void;
}

const COMMIT_SAMPLES = 8192;
/** Operations past which an open group commits without waiting for the sync in flight. */
const MAX_DEFERRED_OPS = 10_000;

export interface CommitFigures {
  commits: number;
  /** Operations acknowledged by those commits. */
  ops: number;
  /** From COMMIT to acknowledgement (its sync included), over the last COMMIT_SAMPLES groups, in ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** A call waiting for its group: resolved with `value` (kept here, so no closure is made per call). */
interface Waiter {
  value: unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** A committed group waiting for its sync. */
interface Unsynced {
  waiters: Waiter[];
  commitStartMs: number;
}

export class GroupCommit {
  private readonly begin: Statement;
  private readonly commit: Statement;
  private readonly rollback: Statement;
  private open = false;
  private waiters: Waiter[] = [];
  private settleWaiters: (() => void)[] = [];
  /** Committed groups no sync has covered yet (a sync in flight started before their COMMIT). */
  private unsynced: Unsynced[] = [];
  private syncing = false;
  private syncFailure: unknown = null;
  /** The open group's flush came while a sync was in flight: it commits when that sync returns. */
  private flushAfterSync = false;
  /** Operations in the open group that did not say they may wait (see GroupCommitOptions.mayWaitMs). */
  private urgentOps = 0;
  /** The open group, all of whose operations may wait, is held until this timer (or urgent work) commits it. */
  private waitTimer: ReturnType<typeof setTimeout> | null = null;
  /** The open group has had its wait: its next flush commits it (or leaves it for the sync in flight). */
  private waited = false;
  /** performance.now() of the last two COMMITs of groups with urgent operations (submits, mostly). */
  private lastUrgentCommitMs = Number.NEGATIVE_INFINITY;
  private urgentCommitGapMs = Number.POSITIVE_INFINITY;
  /** The held group's wait ended, bound once. */
  private readonly waitOver = (): void => {
    this.waitTimer = null;
    this.waited = true;
    this.flush();
  };
  private flushScheduled = false;
  private idleWaiters: (() => void)[] = [];
  private readonly commitMs = new Float64Array(COMMIT_SAMPLES);
  /** flush, bound once: scheduled for every group. */
  private readonly flushLater = (): void => this.flush();
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
   * Runs `op` now inside the open group and resolves with its value once the group is acknowledged
   * (committed, and synced when there is a `sync`).
   * `op` must throw BrokerErrors only before it writes: such an error rejects just this call.
   * Any other throw is a storage failure: the whole group is rolled back and rejected.
   * `mayWait`: this operation's acknowledgement may wait up to GroupCommitOptions.mayWaitMs for
   * other work to share its COMMIT and fsync.
   */
  run<T>(op: () => T, mayWait = false): Promise<T> {
    if (!this.open) {
      try {
        this.begin.run();
      } catch (err) {
        return Promise.reject(storageUnavailable(err));
      }
      this.open = true;
      this.scheduleFlush();
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
    if (!mayWait) this.urgentOps++;
    // A group left waiting (for the sync in flight, or for company) commits after all once it holds work that must not wait.
    if (this.isHeld() && (this.mustCommitAtOnce() || (!mayWait && this.waitTimer !== null))) this.stopWaitingForSync();
    return new Promise<T>((resolve, reject) => {
      this.waiters.push({ value, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  figures(): CommitFigures {
    const n = Math.min(this.commits, COMMIT_SAMPLES);
    const samples = this.commitMs.slice(0, n).sort();
    const at = (q: number): number => samples[Math.min(n - 1, Math.floor(q * n))] ?? 0;
    return { commits: this.commits, ops: this.ops, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: samples[n - 1] ?? 0 };
  }

  /** Resolves once the open group (if any) has committed or failed: its writes are visible or undone. */
  settled(): Promise<void> {
    if (!this.open) return Promise.resolve();
    // Someone reads after this group (a claim of tasks it made ready, a get): do not keep it open.
    if (this.isHeld()) this.stopWaitingForSync();
    return new Promise((resolve) => this.settleWaiters.push(resolve));
  }

  /** Resolves once no committed group waits for a sync (before closing the file). */
  synced(): Promise<void> {
    if (!this.syncing && this.unsynced.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Commits the open group; its operations are acknowledged now, or when a sync covers it. While
   * a sync is in flight the group stays open and commits when that sync returns: its
   * acknowledgement needs the next sync either way, and one COMMIT then writes each page once for
   * all the operations that arrived meanwhile instead of once per event-loop turn. A group of
   * operations that may wait is first held up to mayWaitMs, until urgent work joins it, when such
   * work is likely to come (see companyLikely).
   */
  flush(): void {
    this.flushScheduled = false;
    if (!this.open || this.mustCommitAtOnce()) {
      this.flushNow();
      return;
    }
    if (this.urgentOps === 0 && !this.waited && this.companyLikely()) {
      // Only operations that may wait: hold the group for the next submit's COMMIT and fsync, within the bound.
      this.waitTimer ??= setTimeout(this.waitOver, this.options.mayWaitMs);
      return;
    }
    if (this.waitTimer !== null) {
      clearTimeout(this.waitTimer);
      this.waitTimer = null;
    }
    if (this.syncing) {
      this.flushAfterSync = true;
      return;
    }
    this.flushNow();
  }

  /** Commits the open group now, even while a sync is in flight (closing). */
  flushNow(): void {
    if (!this.open) return;
    this.flushAfterSync = false;
    const startMs = performance.now();
    if (this.urgentOps > 0) {
      this.urgentCommitGapMs = startMs - this.lastUrgentCommitMs;
      this.lastUrgentCommitMs = startMs;
    }
    this.endWait();
    const waiters = this.waiters;
    this.waiters = [];
    try {
      this.options.beforeCommit?.();
      this.commit.run();
    } catch (err) {
      this.waiters = waiters;
      this.fail(err);
      return;
    }
    this.open = false;
    killPoint(KILL_POINTS.afterCommit);
    if (this.options.sync === undefined) {
      // Acknowledge first: nothing the owner's hook does may leave a committed caller waiting.
      this.acknowledge(waiters, startMs);
      this.settle();
      this.options.onCommitted(waiters.length);
      return;
    }
    this.unsynced.push({ waiters, commitStartMs: startMs });
    this.settle();
    this.options.onCommitted(waiters.length);
    this.startSync();
  }

  /** The open group may not wait for the sync in flight: see GroupCommitOptions.commitAtOnce, settled(). */
  private mustCommitAtOnce(): boolean {
    return this.settleWaiters.length > 0 || this.waiters.length >= MAX_DEFERRED_OPS || this.options.commitAtOnce?.() === true;
  }

  /**
   * The last two urgent commits came less than mayWaitMs apart and the last one less than
   * mayWaitMs ago, so more is likely within the wait (one task at a time, 500/s or more). Otherwise
   * (a drain of results alone, a slower trickle, a quiet broker) a wait would only add latency
   * and a timer.
   */
  private companyLikely(): boolean {
    const mayWaitMs = this.options.mayWaitMs ?? 0;
    return mayWaitMs > 0 && this.urgentCommitGapMs < mayWaitMs && performance.now() - this.lastUrgentCommitMs < mayWaitMs;
  }

  /** The open group was flushed and is kept open: for the sync in flight, or for company. */
  private isHeld(): boolean {
    return this.flushAfterSync || this.waitTimer !== null;
  }

  /** The next group starts with no wait had and no urgent operation. */
  private endWait(): void {
    if (this.waitTimer !== null) clearTimeout(this.waitTimer);
    this.waitTimer = null;
    this.waited = false;
    this.urgentOps = 0;
  }

  /** The open group, left waiting, commits at the next flush instead. */
  private stopWaitingForSync(): void {
    if (!this.flushScheduled) this.scheduleFlush();
  }

  private scheduleFlush(): void {
    this.flushScheduled = true;
    if (this.options.flushOn === "microtask") queueMicrotask(this.flushLater);
    else setImmediate(this.flushLater);
  }

  private acknowledge(waiters: Waiter[], commitStartMs: number): void {
    const commitMs = performance.now() - commitStartMs;
    this.commitMs[this.commits % COMMIT_SAMPLES] = commitMs;
    this.commits++;
    this.ops += waiters.length;
    for (const w of waiters) w.resolve(w.value);
    this.options.onAcknowledged?.(waiters.length, commitMs);
  }

  /** One sync at a time; it covers every group committed before it started. */
  private startSync(): void {
    const sync = this.options.sync;
    if (this.syncing || sync === undefined) return;
    if (this.unsynced.length === 0) {
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of idle) resolve();
      return;
    }
    const batch = this.unsynced;
    this.unsynced = [];
    if (this.syncFailure !== null) {
      this.rejectUnsynced(batch, this.syncFailure);
      this.startSync();
      return;
    }
    this.syncing = true;
    sync((err) => {
      this.syncing = false;
      if (err === null) {
        killPoint(KILL_POINTS.afterSync);
        for (const group of batch) this.acknowledge(group.waiters, group.commitStartMs);
      } else {
        const first = this.syncFailure === null;
        this.syncFailure = err;
        this.rejectUnsynced(batch, err);
        if (first) this.options.onSyncFailed?.(err);
      }
      // The group that waited for this sync commits now and starts the next one.
      if (this.flushAfterSync) this.flushNow();
      this.startSync();
    });
  }

  /**
   * These groups committed (their rows are in the WAL file) but their sync failed: they may or may
   * not survive, so the honest answer is OutcomeUnknown, never StorageUnavailable ("not done").
   */
  private rejectUnsynced(batch: Unsynced[], err: unknown): void {
    const failure = new BrokerError(
      ErrorCode.OutcomeUnknown,
      `the store committed this request but could not make it durable (fsync of the WAL failed: ${describe(err)}); it may or may not be stored. The broker is exiting; after its restart, check the task or resend with an idempotency key`,
      { retryAfterMs: 1000, cause: err },
    );
    for (const group of batch) for (const w of group.waiters) w.reject(failure);
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
    this.flushAfterSync = false;
    this.endWait();
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
  return new BrokerError(ErrorCode.StorageUnavailable, `the store could not commit (${describe(cause)}); nothing in this group was acknowledged`, {
    retryAfterMs: 1000,
    cause,
  });
}

function describe(cause: unknown): string {
  const code = (cause as { code?: unknown })?.code;
  return typeof code === "string" ? code : String((cause as Error)?.message ?? cause);
}
