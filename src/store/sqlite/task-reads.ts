// How stored rows are found and shown through the Store contract: a leased row (pending in the
// file, since leases live in memory) is in_progress with its lease; a task's run history. Reads
// only; what callers outside a group show, they wait for first. Lists: list-pages.ts.

import { BrokerError, ErrorCode } from "../../protocol/errors.ts";
import { uuidFromString } from "../../protocol/uuid.ts";
import { MAX_RUNS_SHOWN } from "../store.ts";
import { RUN_OUTCOMES, type TaskRun } from "../../rules/task.ts";
import type { Task } from "../../rules/task.ts";
import type { MemoryState } from "./memory-state.ts";
import type { Statements } from "./statements.ts";
import { rowToTask, STATUS, type TaskRow } from "./task-row.ts";

/**
 * The row of the task with id `bytes`, or null. The row must hold that id: a damaged index entry
 * could lead to another row, which must not answer for this task.
 */
export function readById(stmts: Statements, bytes: Uint8Array): TaskRow | null {
  const row = stmts.byId.get(bytes);
  return row !== null && Buffer.compare(row.id, bytes) === 0 ? row : null;
}

/** The row of task `id`, or NotFound. */
export function rowById(stmts: Statements, id: string): TaskRow {
  const bytes = uuidFromString(id);
  const row = bytes === null ? null : readById(stmts, bytes);
  if (row === null) throw new BrokerError(ErrorCode.NotFound, `no task with id ${JSON.stringify(id)}`, { field: "id" });
  return row;
}

/** A row as the contract shows it: a leased row is in_progress with its worker and expiry. */
export function withLease(mem: MemoryState, row: TaskRow): Task {
  const task = rowToTask(row);
  const lease = mem.leasesBySeq.get(row.seq);
  if (lease !== undefined) {
    task.status = "in_progress";
    task.workerId = lease.workerId;
    task.startedAtMs = lease.startedAtMs;
    task.leaseExpiresAtMs = lease.expiresAtMs;
  }
  return task;
}

/** The runs of the task in `row` that ended, oldest first: the recorded ones, then a completed run from the row itself. */
export function runsOfRow(stmts: Statements, row: TaskRow): TaskRun[] {
  const runs: TaskRun[] = stmts.runsOf
    .all(row.seq, MAX_RUNS_SHOWN)
    .reverse()
    .map((r) => ({ workerId: r.worker_id, startedAtMs: r.started_at, endedAtMs: r.ended_at, outcome: RUN_OUTCOMES[r.outcome] ?? "failed", error: r.error }));
  if (row.status === STATUS.completed && row.worker_id !== null && row.started_at !== null && row.finished_at !== null) {
    runs.push({ workerId: row.worker_id, startedAtMs: row.started_at, endedAtMs: row.finished_at, outcome: "completed", error: null });
  }
  return runs.slice(-MAX_RUNS_SHOWN);
}
