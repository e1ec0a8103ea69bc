// The Store contract: one method per state transition of a task, each atomic and durable
// before its promise resolves (group commit is the implementation's business), and the events a
// store sends after a commit. Every method may be asynchronous, so a remote database can honour
// it: SQLite is the default implementation, PostgreSQL (several brokers) the second. What a
// transition leads to is asked of rules/ (transitions.ts, backoff.ts), never decided here or in
// SQL. Nothing here knows the wire format; the broker passes its limits (the reply budget) in.

import type { BrokerError } from "../protocol/errors.ts";
import type { WorkerCommand } from "../protocol/wire-values.ts";
import type { RetryPolicy } from "../rules/transitions.ts";
import type {
  CancelOutcome, CompletedInfo, ExpiredLease, FailureIn, FailureOutcome, Lease, LeaseRef, NewTask, SubmitOutcome, Task, TaskCounts, TaskResultIn, TaskRun, TaskStatus,
} from "../rules/task.ts";

export interface ClaimRequest {
  /** Queues to take from; among them the highest priority wins, then the oldest. */
  queues: readonly string[];
  workerId: string;
  /** Most tasks to take (batch claim). */
  max: number;
  /**
   * Most bytes of task data (payloads) the answer may carry: a claim stops adding tasks before
   * this, but always hands out at least one when one is ready. The broker's reply budget.
   */
  maxDataBytes: number;
  nowMs: number;
}

/** One item of a report: complete or fail one lease. */
export type ReportItem = { lease: LeaseRef; completed: TaskResultIn } | { lease: LeaseRef; failed: FailureIn };

/** What one reported item came to, or that item's own error (nothing changed for it). */
export type ReportItemResult = { ok: true; completed: CompletedInfo } | { ok: true; failed: FailureOutcome } | { ok: false; error: BrokerError };

/** Which tasks an operator means: every field given must match. */
export interface TaskFilter {
  status?: TaskStatus;
  queue?: string;
  type?: string;
  idempotencyKey?: string;
  /** The worker running the task, or the last one that ran it. */
  workerId?: string;
  /** Only tasks last changed (updatedAtMs) before this: for a finished task, when it finished. */
  updatedBeforeMs?: number;
}

/**
 * Oldest first or newest first: completed tasks by the time they finished (they are listed to see
 * what just ran), every other status by submission (seq) order.
 */
export type ListOrder = "oldest" | "newest";

export interface ListQuery extends TaskFilter {
  limit: number;
  /** Default "oldest". */
  order?: ListOrder;
  /** Opaque, from the previous page's nextCursor. */
  cursor?: string;
}

/** A list request as the store takes it: the query and the broker's reply budget. */
export interface ListRequest extends ListQuery {
  /** Most bytes of task data (payload + result + error) one page may carry; a page holds at least one task. */
  maxDataBytes: number;
}

/**
 * A page holds at most `limit` tasks. A store bounds the rows it reads for one page (a filter no
 * index serves must not scan the whole table), so a page may hold fewer, even none, and still
 * have a nextCursor: the caller asks again from there.
 */
export interface ListPage {
  tasks: Task[];
  nextCursor: string | null;
}

/** How one run of a task (a lease a worker held) ended. */
/** Bytes of a run's error a store keeps in the run history; the task keeps its last error whole. */
export const MAX_RUN_ERROR_BYTES = 4096;
/** Most runs of one task a history read returns (the latest ones). */
export const MAX_RUNS_SHOWN = 200;

/** Where a pending task stands in its queue: the ready tasks a claim on that queue takes before it. */
export interface ReadyAhead {
  /** Ready tasks of its queue with a higher priority. */
  higherPriority: number;
  /** Ready tasks of its queue and priority that became ready before it. */
  samePriority: number;
}

/** What one retention step did. */
export interface PurgeStep {
  purged: number;
  done: boolean;
}

/** What one scheduler tick did, and when the next one is due. */
export interface TickOutcome {
  /** Scheduled/failed tasks whose time came and are now pending. */
  promoted: number;
  /** In-progress tasks whose lease ran out: counted as an attempt, then pending at once, or dead when retries are used up. */
  expired: number;
  /**
   * Those leases, one each, with the token each was issued under: the broker gives a
   * subscription's credit back by (id, token), so an expiry must name the lease, not just the task.
   */
  expiredLeases: ExpiredLease[];
  /** Epoch ms of the next due promotion or lease expiry; null when nothing is waiting. */
  nextDueMs: number | null;
}

/** A task that reached a finished status (completed, dead, cancelled). */
export interface TaskEnd {
  id: string;
  queue: string;
  status: "completed" | "dead" | "cancelled";
  /**
   * A running task cancelled: the lease that ended with it, so that the broker its worker is
   * connected to (this one or, with several brokers, another) can tell the worker.
   */
  endedLease?: { token: number; workerId: string };
}

/**
 * What a store tells its owner, always after the commit that made it true (never for a change a
 * failed commit takes back). The broker wakes blocking claims and result waits from these, and
 * arms the scheduler; it never polls the store for them.
 */
export interface StoreEvents {
  /**
   * `count` tasks became claimable in `queue`: submitted, promoted, handed back, expired or
   * reclaimed with retries left, re-run. A store with several brokers also passes on what the
   * others announced.
   */
  ready(queue: string, count: number): void;
  /**
   * Tasks reached a finished status: completed, dead (by any path) or cancelled. `elsewhere`:
   * another broker of the cluster committed it (this broker wakes its waits, counts nothing).
   */
  finished(ends: readonly TaskEnd[], elsewhere?: boolean): void;
  /** Time-based work (a delayed task, a retry, a lease expiry) is due at `atMs`: tick() then. */
  due(atMs: number): void;
  /** A queue was paused or resumed; a store with several brokers passes on what the others did. */
  paused(queue: string, paused: boolean): void;
  /**
   * Another broker of the cluster passed on an operator's command (quiet, shutdown) for a worker
   * the store's records say this broker serves (WorkerPresence.forwardWorkerCommand). Only a store
   * with several brokers sends it.
   */
  workerCommand(workerId: string, command: Exclude<WorkerCommand, "none">): void;
}

/** What every store takes besides its own settings. */
export interface StoreRules {
  /** What a failure leads to: asked of rules/transitions.ts with this policy. */
  retry: RetryPolicy;
  events: Partial<StoreEvents>;
}

export interface Store {
  /**
   * Inserts tasks (all or none). A task whose runAtMs is in the future is scheduled, else pending.
   * An idempotency key already used by a retained task returns that task (duplicate: true).
   * Resolves after commit, then announces ready / due. Throws StorageUnavailable if the commit
   * failed.
   */
  submit(tasks: readonly NewTask[], nowMs: number): Promise<SubmitOutcome[]>;

  /**
   * Leases up to `max` pending tasks from the given queues (highest priority, then FIFO) to the
   * worker, within `maxDataBytes`: in_progress under a new unguessable token, expiry = now +
   * task.leaseMs. Resolves once no commit can take the leases back; an empty array when nothing
   * is ready. Never hands one task to two workers at once.
   */
  claim(request: ClaimRequest): Promise<Lease[]>;

  /** Extends each lease by its task's leaseMs. Returns the new expiry, or null for a lost lease. */
  renew(leases: readonly LeaseRef[], nowMs: number): Promise<(number | null)[]>;

  /**
   * Ends runs, in one operation (one commit): completed with its result, or failed — a retry at
   * the time rules/transitions.ts afterFailure() gives, or dead. An item's own error fails only
   * that item, and changes nothing for it: LeaseLost (stale token), NotFound (unknown id),
   * InvalidField "result" (payload + result would pass MAX_TASK_DATA_BYTES). An error message is
   * kept cut to what fits beside the payload. A storage failure rejects the whole call.
   * Announces finished for completed and dead tasks.
   * `mayWait`: nobody needs this acknowledgement soon (each item's worker gets its next task by
   * push, not by a claim after this answer, and nobody waits on the result), so a store may hold
   * it briefly to share a commit and fsync with other work (SQLite with sync full: resultsWaitMs).
   * Never earlier than durable either way.
   */
  report(items: readonly ReportItem[], nowMs: number, mayWait?: boolean): Promise<ReportItemResult[]>;

  /** in_progress -> pending at once, not counted as an attempt (a worker handing work back). Throws LeaseLost / NotFound, all or none. */
  release(leases: readonly LeaseRef[], nowMs: number): Promise<void>;

  /**
   * Every lease the worker holds goes back. `countAttempt` true (the worker died: it may have been
   * killed by the task) ends each as afterLeaseLoss() says; false (it deregistered) as
   * afterHandBack(). Returns the ids.
   */
  reclaimWorker(workerId: string, countAttempt: boolean, nowMs: number): Promise<string[]>;

  /**
   * pending, scheduled, failed or in_progress -> cancelled (OPERATOR_MOVES.cancel). A running
   * task's lease ends with it (a later result with its token gets LeaseLost; not counted as an
   * attempt) and is returned, so its worker can be told. Throws InvalidState (nothing changed)
   * for other statuses, NotFound for unknown ids.
   */
  cancel(id: string, nowMs: number): Promise<CancelOutcome>;

  /** dead or cancelled -> pending with attempts reset (OPERATOR_MOVES.rerun). Throws InvalidState (nothing changed) otherwise. */
  retry(id: string, nowMs: number): Promise<Task>;

  /**
   * Removes a task that is not running (OPERATOR_MOVES.delete), its run history with it, and
   * returns it as it was. Throws InvalidState for a running task (cancel it first), NotFound for
   * unknown ids. Announces nothing: a deleted task is neither ready nor finished.
   */
  delete(id: string, nowMs: number): Promise<Task>;

  /** One task, or null. */
  get(id: string): Promise<Task | null>;

  /**
   * The runs of a task that ended, oldest first (at most the latest MAX_RUNS_SHOWN): failed, dead,
   * lease expired, worker lost, cancelled while running, and the completed run. A hand-back (the
   * worker gave the task back unstarted) is not a run. A running task's current lease is not in
   * it (get() shows it). An operator's re-run keeps the earlier runs. Empty for an unknown id.
   */
  runs(id: string): Promise<TaskRun[]>;

  /** For a pending task (not leased): the ready tasks of its queue that a claim takes first; null otherwise. */
  readyAhead(id: string): Promise<ReadyAhead | null>;

  /**
   * Tasks filtered as list() filters them (order and paging aside), paginated within the
   * request's byte budget. Each page reads a bounded number of rows (see ListPage).
   */
  list(request: ListRequest): Promise<ListPage>;

  /**
   * How many tasks match `filter`. Status and queue alone are answered from counts; other fields
   * may cost a read of every task of that status (a bulk action's count, not a hot path).
   */
  count(filter: TaskFilter): Promise<number>;

  /**
   * How many tasks each worker holds leases on now (in progress), by worker id; workers holding
   * none are absent. One read for every worker (what ListWorkers and the workers page show).
   */
  runningByWorker(): Promise<Map<string, number>>;

  /** Pauses (true) or resumes a queue, durably: paused queues stay paused across restarts. */
  setPaused(queue: string, paused: boolean, nowMs: number): Promise<void>;

  /** The queues paused now, by name. */
  pausedQueues(): Promise<string[]>;

  /** All time-based work due at `nowMs`: promotions and lease expiries (afterLeaseLoss()). */
  tick(nowMs: number): Promise<TickOutcome>;

  /**
   * One bounded step of retention: deletes up to `limit` finished tasks (completed, dead,
   * cancelled) that finished before `beforeMs`. `done` says no such task is left for this cutoff;
   * until then the caller calls again (a step may delete fewer than `limit` and not be done).
   */
  purgeFinished(beforeMs: number, limit: number): Promise<PurgeStep>;

  /**
   * Current counts per queue and tier (stats, metrics, the dashboard), finished tasks included: what
   * the store holds, so they survive restarts (and shrink as retention purges).
   */
  counts(): Promise<TaskCounts>;

  /** Pending tasks over all queues, for backpressure (asked once per submit: keep it cheap). */
  pendingCount(): Promise<number>;

  /** Checks the store accepts writes (readiness probe). */
  ping(): Promise<void>;

  /** Flushes the pending group commit and closes. Later calls throw ShuttingDown. */
  close(): Promise<void>;
}
