// Fills the in-memory indexes and counts from the tasks table: at open (one row at a time, from the
// scan that checks every row) and after a failed commit (reading in seq-ordered chunks so millions
// of rows never sit in memory at once). Writes nothing.

import type { FinishedStatus, LeaseState, MemoryState } from "./memory-state.ts";
import type { Statements } from "./statements.ts";
import { STATUS, type TaskRow } from "./task-row.ts";

/** Enters one row (rows come in seq order, as loadMemory reads them) in fresh indexes. */
export function loadRow(mem: MemoryState, row: TaskRow): void {
  if (row.status === STATUS.pending) mem.ready.push(row.queue, row.seq, row.priority, row.updated_at);
  else if ((row.status === STATUS.scheduled || row.status === STATUS.failed) && row.run_at !== null) mem.addScheduled(row.queue, row.seq, row.run_at, row.status === STATUS.failed);
  else if (row.finished_at !== null && FINISHED_NAMES.has(row.status)) mem.finished.add(row.queue, FINISHED_NAMES.get(row.status)!, 1);
}

/** Finished status codes and their names, as FinishedCounts counts them. */
const FINISHED_NAMES = new Map<number, FinishedStatus>([
  [STATUS.completed, "completed"],
  [STATUS.dead, "dead"],
  [STATUS.cancelled, "cancelled"],
]);

/** Counts the finished rows again, one status at a time through their index (a reload, a quarantine move). */
export function recountFinished(stmts: Statements, mem: MemoryState): void {
  mem.finished.clear();
  for (const [status, name] of FINISHED_NAMES) {
    for (const row of stmts.finishedQueues.iterate(status)) mem.finished.add(row.queue, name, 1);
  }
}

const LOAD_CHUNK_ROWS = 65_536;

/** Rebuilds ready and waiting indexes; live leases (memory only) are the caller's to keep or drop. */
export function loadMemory(stmts: Statements, mem: MemoryState): void {
  mem.clear();
  const share = stmts.pendingShare.get()!;
  const loadPending = share.pending * 2 > share.span ? stmts.loadPendingByScan : stmts.loadPending;
  for (let after = 0; ;) {
    const rows = loadPending.values(after, LOAD_CHUNK_ROWS) as [number, string, number, number][];
    for (const [seq, queue, priority, updatedAt] of rows) mem.ready.push(queue, seq, priority, updatedAt);
    if (rows.length < LOAD_CHUNK_ROWS) break;
    after = rows[rows.length - 1]![0];
  }
  for (const status of [STATUS.scheduled, STATUS.failed]) {
    for (let after = 0; ;) {
      const rows = stmts.loadWaiting.values(status, after, LOAD_CHUNK_ROWS) as [number, string, number][];
      for (const [seq, queue, runAt] of rows) mem.addScheduled(queue, seq, runAt, status === STATUS.failed);
      if (rows.length < LOAD_CHUNK_ROWS) break;
      after = rows[rows.length - 1]![0];
    }
  }
  recountFinished(stmts, mem);
}

/**
 * After a failed commit: reloads the indexes from the file and keeps those of `leases` whose rows
 * are still pending there (leases are not in the file; their workers are running them), taking
 * their rows out of the ready index again.
 */
export function reloadKeepingLeases(stmts: Statements, mem: MemoryState, leases: readonly LeaseState[]): void {
  loadMemory(stmts, mem);
  for (const lease of leases) {
    const row = stmts.bySeq.get(lease.seq);
    if (row === null || row.status !== STATUS.pending) continue;
    mem.ready.remove(lease.queue, lease.seq, row.priority);
    mem.addLease(lease);
  }
}
