// Group commit on PostgreSQL: operations that arrive while transactions are in flight are carried
// out together in the next one, each kind in as few statements as it can (one INSERT for every
// submit, one UPDATE for every completion), with the cluster's notifications, then one COMMIT.
// A promise resolves only after that COMMIT; what the group made true is told after it too.

import type { SQL } from "bun";
import { BrokerError, ErrorCode } from "../../protocol/errors.ts";
import type { TaskEnd } from "../store.ts";
import { isRetryableTx, storageUnavailable } from "./pg-errors.ts";

/** What one transaction made true, told to the listeners (and the other brokers) after its commit. */
export class TxNotes {
  readonly ready = new Map<string, number>();
  readonly ends: TaskEnd[] = [];
  /** Queues paused (true) or resumed by the transaction. */
  readonly pauses: [string, boolean][] = [];
  /** Earliest time-based work the transaction created (a lease expiry, a retry, a delayed task). */
  dueMs: number | null = null;
  /** Change in the number of pending tasks (backpressure's counter). */
  pendingDelta = 0;

  madeReady(queue: string, count = 1): void {
    if (count <= 0) return;
    this.ready.set(queue, (this.ready.get(queue) ?? 0) + count);
    this.pendingDelta += count;
  }

  due(atMs: number): void {
    if (this.dueMs === null || atMs < this.dueMs) this.dueMs = atMs;
  }

  merge(other: TxNotes): void {
    for (const [queue, count] of other.ready) this.ready.set(queue, (this.ready.get(queue) ?? 0) + count);
    this.ends.push(...other.ends);
    this.pauses.push(...other.pauses);
    if (other.dueMs !== null) this.due(other.dueMs);
    this.pendingDelta += other.pendingDelta;
  }
}

/**
 * A kind of operation that is carried out for a whole group at once. `run` answers one slot per
 * item: its result, or that item's own BrokerError (nothing changed for it). Throwing fails the
 * group.
 */
export interface BatchKind<I, O> {
  readonly name: string;
  run(tx: SQL, notes: TxNotes, items: readonly I[]): Promise<(O | BrokerError)[]>;
}

/** One operation on its own, in a savepoint: a BrokerError it throws undoes only its own writes. */
export type Work<T> = (tx: SQL, notes: TxNotes) => Promise<T>;

interface Entry {
  kind: BatchKind<unknown, unknown> | null;
  item: unknown;
  work: Work<unknown> | null;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

export interface PgGroupOptions {
  sql: SQL;
  /** Transactions in flight at once: more keep the pool busy, fewer make each group bigger. */
  maxInFlight: number;
  /** Operations in one transaction at most. */
  maxOps: number;
  /** Batch kinds in the order a transaction carries them out (claims last: they see what the group made ready). */
  order: readonly string[];
  /** Runs last inside each transaction: the notifications to the other brokers. */
  beforeCommit(tx: SQL, notes: TxNotes): Promise<void>;
  /** After each commit, before any promise of the group resolves. */
  onCommitted(notes: TxNotes, ops: number, commitMs: number): void;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

/** Deadlocks are rare (two brokers ending the same leases in another order); a few tries settle them. */
const MAX_TRIES = 3;

export class PgGroup {
  private queue: Entry[] = [];
  private inFlight = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];

  constructor(private readonly o: PgGroupOptions) {}

  /** One item of a batch kind, carried out with every other item of that kind in the group. */
  add<I, O>(kind: BatchKind<I, O>, item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ kind: kind as BatchKind<unknown, unknown>, item, work: null, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  /** One operation of its own (cancel, re-run, tick, ...) in the next group. */
  run<T>(work: Work<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ kind: null, item: null, work: work as Work<unknown>, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Resolves once nothing is queued or in flight. */
  settled(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.o.maxInFlight) return;
    this.scheduled = true;
    // A microtask: what the same turn of the event loop adds joins this group.
    queueMicrotask(() => {
      this.scheduled = false;
      this.startFlush();
    });
  }

  private startFlush(): void {
    while (this.queue.length > 0 && this.inFlight < this.o.maxInFlight) {
      const entries = this.queue.splice(0, this.o.maxOps);
      this.inFlight++;
      void this.flush(entries).finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.schedule();
        else if (this.inFlight === 0) for (const wake of this.idle.splice(0)) wake();
      });
    }
  }

  private async flush(entries: Entry[]): Promise<void> {
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      let committing = false;
      try {
        const outcome = await this.attempt(entries, () => (committing = true));
        this.o.onCommitted(outcome.notes, entries.length, performance.now() - started);
        entries.forEach((e, i) => {
          const r = outcome.results[i]!;
          if (r.ok) e.resolve(r.value);
          else e.reject(r.error);
        });
        return;
      } catch (err) {
        if (!committing && isRetryableTx(err) && attempt < MAX_TRIES) {
          this.o.log?.("transaction retried after a deadlock or serialization failure", { attempt, error: String(err) });
          continue;
        }
        const failure = err instanceof BrokerError ? err : storageUnavailable(err, committing);
        if (failure.code !== ErrorCode.StorageUnavailable) this.o.log?.("group failed", { error: String(err) });
        for (const e of entries) e.reject(failure);
        return;
      }
    }
  }

  private async attempt(entries: Entry[], committing: () => void): Promise<{ results: Settled[]; notes: TxNotes }> {
    const notes = new TxNotes();
    const results: Settled[] = new Array(entries.length);
    await this.o.sql.begin(async (tx) => {
      const byKind = new Map<string, number[]>();
      entries.forEach((e, i) => {
        if (e.kind === null) return;
        const slots = byKind.get(e.kind.name) ?? [];
        slots.push(i);
        byKind.set(e.kind.name, slots);
      });
      const singles = entries.map((e, i) => (e.kind === null ? i : -1)).filter((i) => i >= 0);
      for (const name of this.o.order) {
        if (name === "single") {
          for (const i of singles) results[i] = await this.runSingle(tx, notes, entries[i]!.work!);
          continue;
        }
        const slots = byKind.get(name);
        if (slots === undefined) continue;
        const kind = entries[slots[0]!]!.kind!;
        const out = await kind.run(tx, notes, slots.map((i) => entries[i]!.item));
        slots.forEach((slot, j) => {
          const value = out[j];
          results[slot] = value instanceof BrokerError ? { ok: false, error: value } : { ok: true, value };
        });
      }
      await this.o.beforeCommit(tx, notes);
      committing();
    });
    return { results, notes };
  }

  private async runSingle(tx: SQL, notes: TxNotes, work: Work<unknown>): Promise<Settled> {
    const own = new TxNotes();
    try {
      const value = await (tx as unknown as { savepoint<T>(fn: (sp: SQL) => Promise<T>): Promise<T> }).savepoint((sp) => work(sp, own));
      notes.merge(own);
      return { ok: true, value };
    } catch (err) {
      // The savepoint is rolled back: the operation changed nothing, the group goes on. A
      // deadlock or a lost connection fails the whole group instead (it is retried or reported).
      if (err instanceof BrokerError) return { ok: false, error: err };
      if (isRetryableTx(err) || !isServerError(err)) throw err;
      return { ok: false, error: storageUnavailable(err) };
    }
  }
}

type Settled = { ok: true; value: unknown } | { ok: false; error: BrokerError };

/** An error the server answered for one statement (the session and the transaction go on after a rollback to the savepoint). */
function isServerError(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "ERR_POSTGRES_SERVER_ERROR";
}
