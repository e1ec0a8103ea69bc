// The task's state machine: which status may follow which, and what each way a run can end leads
// to (a retry after backoff, pending again, or dead). Pure: no storage, no clock of its own, no
// I/O; every store and the broker ask these functions and keep no second copy of the rules.

import { BrokerError, ErrorCode } from "../protocol/errors.ts";
import { DEFAULT_BACKOFF, retryDelayMs, type BackoffPolicy } from "./backoff.ts";
import type { TaskStatus } from "./task.ts";

/**
 * Every move a task may make, from -> to. `in_progress` is a lease: a store may keep it in memory
 * only (SQLite does), but the transitions are the same. A re-run (retry) resets the attempts.
 */
export const TRANSITIONS: { readonly [From in TaskStatus]: readonly TaskStatus[] } = {
  // submit makes pending (ready now) or scheduled (run_at in the future)
  pending: ["in_progress", "cancelled"],
  scheduled: ["pending", "cancelled"],
  // a run ends: completed; failed (retry later) or dead; pending again (lease lost or handed
  // back); cancelled by an operator
  in_progress: ["completed", "failed", "dead", "pending", "cancelled"],
  failed: ["pending", "cancelled"],
  completed: [],
  // an operator re-runs a dead or cancelled task
  dead: ["pending"],
  cancelled: ["pending"],
};

export function mayMove(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * What an operator may ask, and from which statuses: cancel ends a task that has not finished (a
 * running one's lease ends with it); a re-run puts a dead or cancelled task back, attempts reset;
 * delete removes any task but a running one (to: null, the task is gone).
 */
export const OPERATOR_MOVES = {
  cancel: { to: "cancelled", from: ["pending", "scheduled", "failed", "in_progress"], done: "cancelled" },
  rerun: { to: "pending", from: ["dead", "cancelled"], done: "re-run" },
  // Deleting removes the row; a running task is cancelled first, so its worker is told.
  delete: { to: null, from: ["pending", "scheduled", "failed", "completed", "dead", "cancelled"], done: "deleted" },
} as const satisfies Record<string, { to: TaskStatus | null; from: readonly TaskStatus[]; done: string }>;

export type OperatorMove = keyof typeof OPERATOR_MOVES;

/** Refuses an operator's move from a status that does not allow it: InvalidState, nothing changed. */
export function checkOperatorMove(move: OperatorMove, id: string, from: TaskStatus): void {
  const rule = OPERATOR_MOVES[move];
  if ((rule.from as readonly TaskStatus[]).includes(from)) return;
  const names = rule.from.map((s) => (s === "in_progress" ? "running" : s));
  const hint = move === "delete" && from === "in_progress" ? " (cancel it first: its worker is told to stop)" : "";
  throw new BrokerError(ErrorCode.InvalidState, `task ${id} is ${from === "in_progress" ? "running" : from}; only ${listOf(names)} tasks can be ${rule.done}${hint}`, { field: "id" });
}

/** What the rules need to know of the queue's retry policy; a store takes it in its options. */
export interface RetryPolicy {
  backoff: BackoffPolicy;
  /** 0..1, for the jitter; tests pin it. */
  random: () => number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { backoff: DEFAULT_BACKOFF, random: Math.random };

/** A task's retry budget as a run ends: `attempts` counts failed runs before this one. */
export interface AttemptState {
  attempts: number;
  maxRetries: number;
}

export type FailureDecision = { status: "failed"; attempts: number; retryAtMs: number } | { status: "dead"; attempts: number; retryAtMs: null };

/**
 * A run reported a failure: it counts as an attempt; the task is retried after backoff while
 * retries are left, else (or when the failure is unrecoverable) it is dead.
 */
export function afterFailure(task: AttemptState, unrecoverable: boolean, nowMs: number, policy: RetryPolicy): FailureDecision {
  const attempts = task.attempts + 1;
  if (unrecoverable || attempts > task.maxRetries) return { status: "dead", attempts, retryAtMs: null };
  return { status: "failed", attempts, retryAtMs: nowMs + retryDelayMs(attempts, policy.backoff, policy.random) };
}

/**
 * A run ended with no result: its lease ran out, or its worker died (it may have been killed by
 * the task). It counts as an attempt; the task is ready again at once while retries are left
 * (the worker, not the task, most likely failed), else it is dead.
 */
export function afterLeaseLoss(task: AttemptState): { status: "pending" | "dead"; attempts: number } {
  const attempts = task.attempts + 1;
  return { status: attempts > task.maxRetries ? "dead" : "pending", attempts };
}

/**
 * A run handed back unstarted (Nack, a worker shutting down, a deregistering worker): not an
 * attempt; the task is ready again at once.
 */
export function afterHandBack(task: AttemptState): { status: "pending"; attempts: number } {
  return { status: "pending", attempts: task.attempts };
}

function listOf(statuses: readonly string[]): string {
  if (statuses.length <= 1) return statuses.join("");
  return `${statuses.slice(0, -1).join(", ")} or ${statuses[statuses.length - 1]}`;
}
