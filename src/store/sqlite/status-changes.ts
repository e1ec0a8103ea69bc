// Status changes that are not a lease's end: a scheduled or failed row coming due, and an
// operator's cancel, re-run and delete. Each runs inside the store's open group and keeps the memory
// indexes in step with the row; the commit and the listeners stay with the store.

import { checkOperatorMove } from "../../rules/transitions.ts";
import type { Task } from "../../rules/task.ts";
import type { GroupNotes } from "./announcements.ts";
import type { FinishedStatus, MemoryState } from "./memory-state.ts";
import { stateCrcAfter } from "./row-checksum.ts";
import type { Statements } from "./statements.ts";
import { rowById } from "./task-reads.ts";
import { rowToTask, STATUS, statusName, type TaskRow } from "./task-row.ts";

/**
 * Moves the rows due by `nowMs` to pending, working through at most `maxSteps` heap entries;
 * each is noted for the commit's announcement. Returns how many were promoted.
 */
export function promoteDue(stmts: Statements, mem: MemoryState, nowMs: number, maxSteps: number, notes: GroupNotes): number {
  const heap = mem.runAtHeap;
  let promoted = 0;
  for (let step = 0; step < maxSteps && (heap.peekDueMs() ?? Number.POSITIVE_INFINITY) <= nowMs; step++) {
    const seq = heap.pop();
    // The entry may be stale (the task was promoted, cancelled or rescheduled since): the row says.
    const row = stmts.bySeq.get(seq);
    if (row === null || (row.status !== STATUS.scheduled && row.status !== STATUS.failed) || row.run_at === null || row.run_at > nowMs) continue;
    const crc = stateCrcAfter(row, { status: STATUS.pending, updated_at: nowMs });
    if (stmts.promote.run(nowMs, seq, crc).changes !== 1) continue;
    mem.scheduledGone(row.queue, row.status === STATUS.failed);
    mem.ready.push(row.queue, seq, row.priority, nowMs);
    notes.ready(row.queue);
    promoted++;
  }
  return promoted;
}

/** Cancels a task that is not leased (a leased row is the lease book's to cancel); InvalidState where the rules refuse. */
export function cancelRow(stmts: Statements, mem: MemoryState, row: TaskRow, nowMs: number, notes: GroupNotes): Task {
  const task = rowToTask(row);
  checkOperatorMove("cancel", task.id, statusName(row.status));
  const updated = stmts.cancel.get(nowMs, row.seq, stateCrcAfter(row, { status: STATUS.cancelled, finished_at: nowMs, updated_at: nowMs }))!;
  leaveWaiting(mem, row);
  mem.finished.add(row.queue, "cancelled", 1);
  notes.finished({ id: task.id, queue: row.queue, status: "cancelled" });
  return rowToTask(updated);
}

/** A pending, scheduled or failed row leaves that state: out of the ready index or the waiting counts. */
function leaveWaiting(mem: MemoryState, row: TaskRow): void {
  if (row.status === STATUS.pending) mem.ready.remove(row.queue, row.seq, row.priority);
  else mem.scheduledGone(row.queue, row.status === STATUS.failed);
}

/** The finished status a row holds, as FinishedCounts names it, or null. */
function finishedName(row: TaskRow): FinishedStatus | null {
  if (row.finished_at === null) return null;
  if (row.status === STATUS.completed) return "completed";
  if (row.status === STATUS.dead) return "dead";
  if (row.status === STATUS.cancelled) return "cancelled";
  return null;
}

/**
 * Deletes a task that is not leased (a leased row is InvalidState: cancel it first, so that its
 * worker is told): out of memory, then the row (its runs go with it, by trigger). Returns it as it was.
 */
export function deleteRow(stmts: Statements, mem: MemoryState, id: string): Task {
  const row = rowById(stmts, id);
  const task = rowToTask(row);
  checkOperatorMove("delete", id, mem.leasesBySeq.has(row.seq) ? "in_progress" : statusName(row.status));
  const finished = finishedName(row);
  if (finished !== null) mem.finished.add(row.queue, finished, -1);
  else if (row.status !== STATUS.completed && row.status !== STATUS.dead && row.status !== STATUS.cancelled) leaveWaiting(mem, row);
  stmts.deleteSeq.run(row.seq);
  return task;
}

/** Re-runs a dead or cancelled task (InvalidState where the rules refuse): pending again, noted for the announcement. */
export function retryRow(stmts: Statements, mem: MemoryState, id: string, nowMs: number, notes: GroupNotes): Task {
  const row = rowById(stmts, id);
  checkOperatorMove("rerun", id, statusName(row.status));
  const updated = stmts.retry.get(
    nowMs, row.seq, stateCrcAfter(row, { status: STATUS.pending, attempts: 0, run_at: null, finished_at: null, updated_at: nowMs }),
  )!;
  const finished = finishedName(row);
  if (finished !== null) mem.finished.add(row.queue, finished, -1);
  mem.ready.push(row.queue, row.seq, row.priority, nowMs);
  notes.ready(row.queue);
  return rowToTask(updated);
}
