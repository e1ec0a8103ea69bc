// The Store contract: one method per state transition of a task, each atomic and durable
// before its promise resolves (group commit is the implementation's business). SQLite is the
// default implementation; PostgreSQL (multi-node) must be able to follow, so claim is phrased
// as "take up to N ready rows for this worker", i.e. SELECT ... FOR UPDATE SKIP LOCKED.
// No network, no config reading: implementations take typed options.

import type { BrokerError } from "../protocol/errors.ts";
import type {
  CancelOutcome, CompletedInfo, ExpiredLease, FailureIn, FailureOutcome, Lease, LeaseRef, NewTask, SubmitOutcome, Task, TaskCounts, TaskResultIn, TaskStatus,
} from "../rules/task.ts";

export interface ClaimRequest {
  /** Queues to take from; among them the highest priority wins, then the oldest. */
  queues: readonly string[];
  workerId: string;
  /** Most tasks to take (batch claim). */
  max: number;
  nowMs: number;
}

/** One item of a batched report: complete or fail one lease, exactly as complete() / fail() would. */
export type ReportItem = { lease: LeaseRef; completed: TaskResultIn } | { lease: LeaseRef; failed: FailureIn };

/** What one reported item came to: what complete() / fail() return, or that item's own error. */
export type ReportItemResult = { ok: true; completed: CompletedInfo } | { ok: true; failed: FailureOutcome } | { ok: false; error: BrokerError };

export interface ListQuery {
  status?: TaskStatus;
  queue?: string;
  type?: string;
  limit: number;
  /** Opaque, from the previous page's nextCursor. */
  cursor?: string;
}

export interface ListPage {
  tasks: Task[];
  nextCursor: string | null;
}

/** What one scheduler tick did, and when the next one is due. */
export interface PurgeStep {
  purged: number;
  done: boolean;
}

export interface TickOutcome {
  /** Scheduled/failed tasks whose time came and are now pending. */
  promoted: number;
  /** In-progress tasks whose lease ran out: counted as an attempt, then pending at once, or dead when retries are used up. */
  expired: number;
  /** Those leases, one each. */
  expiredLeases: ExpiredLease[];
  /** Epoch ms of the next due promotion or lease expiry; null when nothing is waiting. */
  nextDueMs: number | null;
}

export interface Store {
  /**
   * Inserts tasks (all or none). A task whose runAtMs is in the future is scheduled, else pending.
   * An idempotency key already used by a retained task returns that task (duplicate: true).
   * Resolves after commit. Throws StorageUnavailable if the commit failed.
   */
  submit(tasks: readonly NewTask[], nowMs: number): Promise<SubmitOutcome[]>;

  /**
   * Leases up to `max` pending tasks from the given queues (highest priority, then FIFO) to the
   * worker: status in_progress, new token, expiry = now + task.leaseMs. Resolves after commit;
   * an empty array when nothing is ready.
   */
  claim(request: ClaimRequest): Promise<Lease[]>;

  /** Extends each lease by its task's leaseMs. Returns the new expiry, or null for a lost lease. */
  renew(leases: readonly LeaseRef[], nowMs: number): Promise<(number | null)[]>;

  /**
   * in_progress -> completed with its result. Throws LeaseLost on a stale token, NotFound on an
   * unknown id, InvalidField (field "result", nothing changed) when payload + result would pass
   * MAX_TASK_DATA_BYTES. Returns what metrics need (queue, when the run started) without reading the row.
   */
  complete(lease: LeaseRef, result: TaskResultIn, nowMs: number): Promise<CompletedInfo>;

  /**
   * in_progress -> failed (retry after backoff) or dead (retries used up, or unrecoverable). The
   * error is kept cut to what fits beside the payload (MAX_TASK_DATA_BYTES). Throws like complete.
   */
  fail(lease: LeaseRef, failure: FailureIn, nowMs: number): Promise<FailureOutcome>;

  /**
   * Several complete() / fail() in one operation: one group, one promise. An item's own error
   * (LeaseLost, NotFound) fails only that item; a storage failure rejects the whole call.
   */
  report(items: readonly ReportItem[], nowMs: number): Promise<ReportItemResult[]>;

  /** in_progress -> pending at once, not counted as an attempt (a worker handing work back). Throws like complete. */
  release(leases: readonly LeaseRef[], nowMs: number): Promise<void>;

  /**
   * Every lease the worker holds goes back. `countAttempt` true (the worker died: it may have been
   * killed by the task) counts an attempt like a lease expiry; false (it deregistered) does not.
   * Returns the ids.
   */
  reclaimWorker(workerId: string, countAttempt: boolean, nowMs: number): Promise<string[]>;

  /**
   * pending, scheduled, failed or in_progress -> cancelled. A running task's lease ends with it (a
   * later result with its token gets LeaseLost; not counted as an attempt) and is returned, so
   * its worker can be told. Throws InvalidState for other statuses, NotFound for unknown ids.
   */
  cancel(id: string, nowMs: number): Promise<CancelOutcome>;

  /** dead or cancelled -> pending with attempts reset. Throws InvalidState for other statuses. */
  retry(id: string, nowMs: number): Promise<Task>;

  /** One task, or null. */
  get(id: string): Promise<Task | null>;

  /** Tasks filtered by status/queue/type, oldest first, paginated. */
  list(query: ListQuery): Promise<ListPage>;

  /** All time-based work due at `nowMs`: promotions and lease expiries. */
  tick(nowMs: number): Promise<TickOutcome>;

  /**
   * One bounded step of retention: deletes up to `limit` finished tasks (completed, dead,
   * cancelled) that finished before `beforeMs`. `done` says no such task is left for this cutoff;
   * until then the caller calls again (a step may delete fewer than `limit` and not be done).
   */
  purgeFinished(beforeMs: number, limit: number): Promise<PurgeStep>;

  /** Current counts, from memory: cheap enough to call on every submit. */
  counts(): TaskCounts;

  /** Pending tasks over all queues (backpressure check, per submit). */
  pendingCount(): number;

  /** True when a claim on these queues would find a task now. */
  hasReady(queues: readonly string[]): boolean;

  /** Checks the store accepts writes (readiness probe). */
  ping(): Promise<void>;

  /** Flushes the pending group commit and closes. Later calls throw ShuttingDown. */
  close(): Promise<void>;
}

/** Told when tasks become ready in a queue (submit, promotion, release, retry), to wake blocking claims. */
export type ReadyListener = (queue: string) => void;

