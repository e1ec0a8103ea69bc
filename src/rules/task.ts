// The task as the queue knows it: its statuses, what is submitted, what a claim hands out, what a
// run reports, and the counts. Types and constants only; the transitions between statuses are in
// transitions.ts. Every layer may import this; it imports only the protocol's limits.

export const TASK_STATUSES = ["pending", "scheduled", "in_progress", "completed", "failed", "dead", "cancelled"] as const;

export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Statuses a task never leaves on its own; retention purges them. */
export const FINISHED_STATUSES: readonly TaskStatus[] = ["completed", "dead", "cancelled"];

/** A task as the broker has validated it, ready to be stored. */
export interface NewTask {
  type: string;
  queue: string;
  /** Opaque bytes; JSON payloads arrive already encoded (payloadIsJson tells clients how to decode). */
  payload: Uint8Array;
  payloadIsJson: boolean;
  /** 0-255, higher first. */
  priority: number;
  /** Not claimable before this time (epoch ms); null = ready now. */
  runAtMs: number | null;
  /** Failures retried before the task is dead. */
  maxRetries: number;
  /** Lease length granted to each claim, in ms. */
  leaseMs: number;
  /** A second submit with the same key returns the first task while it is retained. */
  idempotencyKey: string | null;
}

export interface Task extends NewTask {
  /** UUIDv7, canonical lowercase text form. */
  id: string;
  status: TaskStatus;
  /** Failed runs so far: reported failures, lease expiries and dead-worker reclaims count; hand-backs do not. */
  attempts: number;
  result: Uint8Array | null;
  resultIsJson: boolean;
  error: string | null;
  /** Worker holding the lease while in_progress, else the last one that held it. */
  workerId: string | null;
  createdAtMs: number;
  updatedAtMs: number;
  /** When the current or last claim started. */
  startedAtMs: number | null;
  /** When it reached completed, dead or cancelled. */
  finishedAtMs: number | null;
  leaseExpiresAtMs: number | null;
}

export interface SubmitOutcome {
  id: string;
  status: TaskStatus;
  /** True when an idempotency key matched an existing task: `id` is that task's. */
  duplicate: boolean;
}

/** A claimed task and the lease that proves the right to report on it. */
export interface Lease {
  task: Task;
  /** Changes on every claim: a result carrying an older token is rejected with LeaseLost. */
  token: number;
  expiresAtMs: number;
}

export interface LeaseRef {
  id: string;
  token: number;
}

export interface TaskResultIn {
  result: Uint8Array | null;
  resultIsJson: boolean;
}

export interface CompletedInfo {
  queue: string;
  startedAtMs: number;
}

export interface FailureIn {
  error: string;
  /** Skip the remaining retries: the task goes straight to dead. */
  unrecoverable: boolean;
}

export interface FailureOutcome {
  status: "failed" | "dead";
  /** The task's queue (per-queue failure rates). */
  queue: string;
  /** For failed: when the retry becomes ready. */
  retryAtMs: number | null;
  attempts: number;
}

/** What a cancel did: the task as it is now, and the lease it ended when the task was running. */
export interface CancelOutcome {
  task: Task;
  endedLease: { token: number; workerId: string } | null;
}

export interface TierCounts {
  high: number;
  normal: number;
  low: number;
}

export interface QueueCounts {
  queue: string;
  /** Ready now, by tier. */
  pending: TierCounts;
  /** Waiting for run_at (including failed tasks waiting for their retry). */
  scheduled: number;
  inProgress: number;
  /** Epoch ms the oldest ready task became ready, null when none is ready. */
  oldestReadyAtMs: number | null;
  /** Of `scheduled`, the failed tasks waiting for their retry's backoff. */
  retrying: number;
  /** Finished tasks the store holds (until retention purges them): counted by the store, so they survive restarts. */
  completed: number;
  dead: number;
  cancelled: number;
}

export interface TaskCounts {
  pending: number;
  scheduled: number;
  inProgress: number;
  /** Sums of the per-queue figures of the same names. */
  retrying: number;
  completed: number;
  dead: number;
  cancelled: number;
  queues: QueueCounts[];
}

/** A lease that ran out without a result (logged as a warning by the broker). */
export interface ExpiredLease {
  id: string;
  workerId: string;
  leaseMs: number;
  /** What the task became: pending again, or dead with its retries used up. */
  status: "pending" | "dead";
}

/** How a run of a task ended (the run history a store keeps). */
export const RUN_OUTCOMES = ["completed", "failed", "dead", "lease_expired", "worker_lost", "cancelled"] as const;
export type RunOutcome = (typeof RUN_OUTCOMES)[number];

/** One run of a task: which worker held it, from when to when, how it ended. */
export interface TaskRun {
  workerId: string;
  startedAtMs: number;
  endedAtMs: number;
  outcome: RunOutcome;
  /** The failure's error (a store may keep only its first MAX_RUN_ERROR_BYTES); null for completed and cancelled runs. */
  error: string | null;
}
