// Fills the in-memory indexes and counts from the tasks table: at open (one row at a time from the
// scan that checks every row, or reading only the columns memory needs when that check comes after
// serving) and after a failed commit (reading in seq-ordered chunks so millions of rows never sit
// in memory at once). Writes nothing.

import { Database } from "bun:sqlite";
import type { FinishedStatus, LeaseState, MemoryState } from "./memory-state.ts";
import type { Statements } from "./statements.ts";
import { STATUS, type TaskRow } from "./task-row.ts";

/** Enters one row (rows come in seq order, as loadMemory reads them) in fresh indexes. */
export function loadRow(mem: MemoryState, row: TaskRow): void {
  enter(mem, row.seq, row.queue, row.priority, row.status, row.updated_at, row.run_at, row.finished_at);
}

/** What a row puts in memory: the columns loadFromTable reads, by name. */
function enter(mem: MemoryState, seq: number, queue: string, priority: number, status: number, updatedAt: number, runAt: number | null, finishedAt: number | null): void {
  if (status === STATUS.pending) mem.ready.push(queue, seq, priority, updatedAt);
  else if ((status === STATUS.scheduled || status === STATUS.failed) && runAt !== null) mem.addScheduled(queue, seq, runAt, status === STATUS.failed);
  else if (finishedAt !== null && FINISHED_NAMES.has(status)) mem.finished.add(queue, FINISHED_NAMES.get(status)!, 1);
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
/**
 * Rows per read at open: a chunk's row arrays die young (measured on 1M rows: RSS after the load
 * 90 MiB against 122 MiB with chunks of 65,536, and 5-10% less CPU).
 */
const OPEN_CHUNK_ROWS = 4096;

/**
 * Fills fresh indexes from every row of the table at `path`, in seq order, reading only the
 * columns memory needs (as loadRow uses them): one pass over the table's pages whatever the mix of
 * statuses, in a third of the time of reading whole rows. The rows' checksums are not checked
 * here: that is for the caller to arrange (open-checks.ts). On a connection of its own with a
 * small cache: the store's page cache is for the rows claims read first (the oldest), not for the
 * end of the table a scan leaves in it. Returns the rows read.
 */
export function loadFromTable(path: string, mem: MemoryState): number {
  mem.clear();
  const db = new Database(path, { readonly: true, strict: true });
  try {
    db.exec("PRAGMA cache_size = -2048");
    // A queue name repeats from row to row: only a row whose queue differs from the one before
    // returns it, which saves a string per row.
    const read = db.prepare(
      `SELECT seq, CASE WHEN queue = ?3 THEN NULL ELSE queue END, priority, status, updated_at, run_at, finished_at
       FROM tasks WHERE seq > ?1 ORDER BY seq LIMIT ?2`,
    );
    let total = 0;
    let queue = "";
    for (let after = 0; ;) {
      const rows = read.values(after, OPEN_CHUNK_ROWS, queue) as [number, string | null, number, number, number, number | null, number | null][];
      for (const [seq, changed, priority, status, updatedAt, runAt, finishedAt] of rows) {
        if (changed !== null) queue = changed;
        enter(mem, seq, queue, priority, status, updatedAt, runAt, finishedAt);
      }
      total += rows.length;
      if (rows.length < OPEN_CHUNK_ROWS) {
        // Finalized here, not by the collector: until then the connection stays open.
        read.finalize();
        return total;
      }
      after = rows[rows.length - 1]![0];
    }
  } finally {
    db.close();
  }
}

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
  loadWaiting(stmts, mem);
  recountFinished(stmts, mem);
}

/** Enters every scheduled and failed row (through their index) in the run_at heap and counts. */
export function loadWaiting(stmts: Statements, mem: MemoryState): void {
  for (const status of [STATUS.scheduled, STATUS.failed]) {
    for (let after = 0; ;) {
      const rows = stmts.loadWaiting.values(status, after, LOAD_CHUNK_ROWS) as [number, string, number][];
      for (const [seq, queue, runAt] of rows) mem.addScheduled(queue, seq, runAt, status === STATUS.failed);
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
