// Status changes that are not a lease's end: a scheduled or failed row coming due, and an
// operator's cancel and re-run. Each runs inside the store's open group and keeps the memory
// indexes in step with the row; the commit and the listeners stay with the store.

import { checkOperatorMove } from "../../rules/transitions.ts";
import type { Task } from "../../rules/task.ts";
import type { GroupNotes } from "./announcements.ts";
import type { MemoryState } from "./memory-state.ts";
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
    mem.scheduledGone(row.queue);
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
  if (row.status === STATUS.pending) mem.ready.remove(row.queue, row.seq, row.priority);
  else mem.scheduledGone(row.queue);
  notes.finished({ id: task.id, queue: row.queue, status: "cancelled" });
  return rowToTask(updated);
}

/** Re-runs a dead or cancelled task (InvalidState where the rules refuse): pending again, noted for the announcement. */
export function retryRow(stmts: Statements, mem: MemoryState, id: string, nowMs: number, notes: GroupNotes): Task {
  const row = rowById(stmts, id);
  checkOperatorMove("rerun", id, statusName(row.status));
  const updated = stmts.retry.get(
    nowMs, row.seq, stateCrcAfter(row, { status: STATUS.pending, attempts: 0, run_at: null, finished_at: null, updated_at: nowMs }),
  )!;
  mem.ready.push(row.queue, row.seq, row.priority, nowMs);
  notes.ready(row.queue);
  return rowToTask(updated);
}
