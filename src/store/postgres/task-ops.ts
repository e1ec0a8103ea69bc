// An operator's moves on one task (cancel, re-run, delete) and retention's deletes. The moves lock
// their row and ask rules/transitions.ts whether the status allows them.

import type { SQL } from "bun";
import { isUuid } from "../../protocol/uuid.ts";
import { checkOperatorMove } from "../../rules/transitions.ts";
import type { CancelOutcome, Task } from "../../rules/task.ts";
import type { TokenCipher } from "../token-cipher.ts";
import type { PurgeStep } from "../store.ts";
import { notFound } from "./lease-refs.ts";
import type { TxNotes } from "./pg-group.ts";
import { recordRuns } from "./run-history.ts";
import { rowToTask, TASK_COLUMNS, type TaskRow } from "./task-rows.ts";

async function lockedRow(tx: SQL, id: string): Promise<TaskRow & { lease_serial: string | null }> {
  const key = id.toLowerCase();
  if (!isUuid(key)) throw notFound(id);
  const [row] = (await tx`SELECT ${tx.unsafe(TASK_COLUMNS)}, lease_serial FROM tasks WHERE id = ${key} FOR UPDATE`) as (TaskRow & {
    lease_serial: string | null;
  })[];
  if (row === undefined) throw notFound(id);
  return row;
}

export async function cancelTask(tx: SQL, notes: TxNotes, id: string, nowMs: number, cipher: TokenCipher): Promise<CancelOutcome> {
  const row = await lockedRow(tx, id);
  const before = rowToTask(row);
  checkOperatorMove("cancel", before.id, before.status);
  const [updated] = (await tx`
    UPDATE tasks SET status = 'cancelled', finished_at = ${nowMs}, updated_at = ${nowMs}, lease_serial = NULL, lease_expires_at = NULL
    WHERE id = ${before.id} RETURNING ${tx.unsafe(TASK_COLUMNS)}`) as TaskRow[];
  const endedLease =
    before.status === "in_progress" && row.lease_serial !== null ? { token: cipher.token(Number(row.lease_serial)), workerId: row.worker_id! } : null;
  if (before.status === "pending") notes.pendingDelta--;
  if (endedLease !== null) {
    await recordRuns(tx, [{ taskId: before.id, workerId: endedLease.workerId, startedAtMs: before.startedAtMs!, endedAtMs: nowMs, outcome: "cancelled", error: null }]);
  }
  notes.ends.push({ id: before.id, queue: before.queue, status: "cancelled", ...(endedLease === null ? {} : { endedLease }) });
  return { task: rowToTask(updated!), endedLease };
}

export async function rerunTask(tx: SQL, notes: TxNotes, id: string, nowMs: number): Promise<Task> {
  const row = await lockedRow(tx, id);
  checkOperatorMove("rerun", row.id, rowToTask(row).status);
  const [updated] = (await tx`
    UPDATE tasks SET status = 'pending', attempts = 0, run_at = NULL, finished_at = NULL, updated_at = ${nowMs},
      ready_seq = nextval('ready_seq'), ready_at = ${nowMs}
    WHERE id = ${row.id} RETURNING ${tx.unsafe(TASK_COLUMNS)}`) as TaskRow[];
  notes.madeReady(row.queue);
  return rowToTask(updated!);
}

/** Removes a task that is not running, and its runs (OPERATOR_MOVES.delete); returns it as it was. */
export async function deleteTask(tx: SQL, notes: TxNotes, id: string): Promise<Task> {
  const row = await lockedRow(tx, id);
  const task = rowToTask(row);
  checkOperatorMove("delete", task.id, task.status);
  await tx`DELETE FROM runs WHERE task_id = ${task.id}`;
  await tx`DELETE FROM tasks WHERE id = ${task.id}`;
  if (task.status === "pending") notes.pendingDelta--;
  return task;
}

/** One retention step; rows another broker is deleting at the same moment are skipped (it deletes them). */
export async function purgeFinished(sql: SQL, beforeMs: number, limit: number): Promise<PurgeStep> {
  const max = Math.max(0, Math.floor(limit));
  if (max === 0) return { purged: 0, done: false };
  const rows = await sql`
    WITH gone AS (
      DELETE FROM tasks WHERE id IN (
        SELECT id FROM tasks WHERE status IN ('completed', 'dead', 'cancelled') AND finished_at < ${beforeMs}
        ORDER BY finished_at LIMIT ${max} FOR UPDATE SKIP LOCKED)
      RETURNING id
    ), runs_gone AS (DELETE FROM runs WHERE task_id IN (SELECT id FROM gone))
    SELECT 1 FROM gone`;
  return { purged: rows.length, done: rows.length < max };
}
