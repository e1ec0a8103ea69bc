// Fills the in-memory indexes from the tasks table: at open (one row at a time, from the scan that
// checks every row) and after a failed commit (reading in seq-ordered chunks so millions of rows
// never sit in memory at once). Writes nothing.

import type { LeaseState, MemoryState } from "./memory-state.ts";
import type { Statements } from "./statements.ts";
import { STATUS, type TaskRow } from "./task-row.ts";

/** Enters one row (rows come in seq order, as loadMemory reads them) in fresh indexes. */
export function loadRow(mem: MemoryState, row: TaskRow): void {
  if (row.status === STATUS.pending) mem.ready.push(row.queue, row.seq, row.priority, row.updated_at);
  else if ((row.status === STATUS.scheduled || row.status === STATUS.failed) && row.run_at !== null) mem.addScheduled(row.queue, row.seq, row.run_at);
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
      for (const [seq, queue, runAt] of rows) mem.addScheduled(queue, seq, runAt);
      if (rows.length < LOAD_CHUNK_ROWS) break;
      after = rows[rows.length - 1]![0];
    }
  }
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
