// Lists and counts for operators (list(), count()): pages in either order, each reading a bounded
// window of one index so that no filter scans the table, and running tasks from the leases in
// memory. Reads only; callers wait for the open group first.

import { BrokerError, ErrorCode } from "../../protocol/errors.ts";
import type { ListPage, ListRequest, TaskFilter } from "../store.ts";
import type { Task } from "../../rules/task.ts";
import type { MemoryState } from "./memory-state.ts";
import type { ListKind, Statements } from "./statements.ts";
import { withLease, readById } from "./task-reads.ts";
import { STATUS, type TaskRow } from "./task-row.ts";

/**
 * Index entries one page may pass over: a filter the index does not serve (queue, type, worker,
 * age) reads at most this many rows per page, then answers what it found with a cursor.
 */
export const LIST_WINDOW_ROWS = 5000;
/** Rows one count statement covers before the count yields the event loop. */
const COUNT_WINDOW_ROWS = 20_000;
const MAX_KEY = Number.MAX_SAFE_INTEGER;

/** A position in a list: the sort key (seq, or finished_at for finished rows) and the seq. */
interface Key {
  k: number;
  seq: number;
}

function kindOf(status: ListRequest["status"]): ListKind {
  if (status === undefined) return "any";
  return status === "completed" || status === "dead" || status === "cancelled" ? "finished" : "open";
}

function parseCursor(cursor: string | undefined, kind: ListKind, asc: boolean): Key {
  if (cursor === undefined) return asc ? { k: -1, seq: 0 } : { k: MAX_KEY, seq: MAX_KEY };
  const parts = cursor.split(".").map(Number);
  const ok = parts.length === (kind === "finished" ? 2 : 1) && parts.every((n) => Number.isSafeInteger(n) && n >= -1);
  if (!ok) throw new BrokerError(ErrorCode.InvalidField, `cursor ${JSON.stringify(cursor)} is not one this store returned for this list`, { field: "cursor" });
  return kind === "finished" ? { k: parts[0]!, seq: parts[1]! } : { k: parts[0]!, seq: parts[0]! };
}

function cursorOf(key: Key, kind: ListKind): string {
  return kind === "finished" ? `${key.k}.${key.seq}` : String(key.seq);
}

function keyOfRow(row: TaskRow, kind: ListKind): Key {
  return kind === "finished" ? { k: row.finished_at ?? 0, seq: row.seq } : { k: row.seq, seq: row.seq };
}

function filterArgs(f: TaskFilter): [string | null, string | null, string | null, number | null] {
  return [f.queue ?? null, f.type ?? null, f.workerId ?? null, f.updatedBeforeMs ?? null];
}

/** The last key of the window of LIST_WINDOW_ROWS entries after `from`, or null when the index ends sooner. */
function windowEnd(stmts: Statements, kind: ListKind, asc: boolean, status: number | null, from: Key, rows: number): Key | null {
  const stmt = stmts.listWindow(kind, asc ? "asc" : "desc");
  const end = kind === "finished" ? stmt.get(from.k, rows - 1, status, from.seq) : stmt.get(from.seq, rows - 1, status);
  return end === null ? null : { k: end.k, seq: end.seq };
}

/** One page of `list`. */
export function listPage(stmts: Statements, mem: MemoryState, query: ListRequest, limit: number): ListPage {
  if (query.idempotencyKey !== undefined) return byKey(stmts, mem, query);
  if (query.status === "in_progress") return listLeased(stmts, mem, query, limit);
  const kind = kindOf(query.status);
  const asc = (query.order ?? "oldest") === "oldest";
  const status = query.status === undefined ? null : STATUS[query.status];
  const from = parseCursor(query.cursor, kind, asc);
  const end = windowEnd(stmts, kind, asc, status, from, LIST_WINDOW_ROWS);
  const upTo = end ?? (asc ? { k: MAX_KEY, seq: MAX_KEY } : { k: -1, seq: -1 });
  const seqKind = kind !== "finished";
  // A leased row's worker is in memory, not in the file: for rows that may be leased, the worker
  // filter is applied to the tasks below (the page may come out short; the cursor goes on).
  const sqlFilter = seqKind ? { ...query, workerId: undefined } : query;
  const { rows, read, last } = stmts.listRows(kind, asc ? "asc" : "desc").allCounting(
    seqKind ? from.seq : from.k, status, ...filterArgs(sqlFilter), seqKind ? upTo.seq : upTo.k, limit + 1, seqKind ? null : from.seq, seqKind ? null : upTo.seq,
  );
  const page = fitBudget(rows.slice(0, limit), query.maxDataBytes);
  let next: Key | null = null;
  if (rows.length > page.length) next = keyOfRow(page[page.length - 1]!, kind);
  // Every row read was in the page or failed its checksums: go on after the last one read.
  else if (read > limit && last !== null) next = keyOfRow(last, kind);
  else if (end !== null) next = end;
  // Leased rows are pending in the file; asked for pending, they are not.
  const tasks = page
    .map((row) => withLease(mem, row))
    .filter((t) => (query.status === undefined || t.status === query.status) && (query.workerId === undefined || t.workerId === query.workerId));
  return { tasks, nextCursor: next === null ? null : cursorOf(next, kind) };
}

/** A task by idempotency key (the key's unique index), if it matches the other filters. */
function byKey(stmts: Statements, mem: MemoryState, query: ListRequest): ListPage {
  const found = stmts.byKey.get(query.idempotencyKey!);
  const row = found === null ? null : readById(stmts, found.id);
  if (row === null) return { tasks: [], nextCursor: null };
  const task = withLease(mem, row);
  return { tasks: matches(task, query) ? [task] : [], nextCursor: null };
}

/** Whether a task passes every filter given. */
export function matches(task: Task, f: TaskFilter): boolean {
  return (
    (f.status === undefined || task.status === f.status) &&
    (f.queue === undefined || task.queue === f.queue) &&
    (f.type === undefined || task.type === f.type) &&
    (f.idempotencyKey === undefined || task.idempotencyKey === f.idempotencyKey) &&
    (f.workerId === undefined || task.workerId === f.workerId) &&
    (f.updatedBeforeMs === undefined || task.updatedAtMs < f.updatedBeforeMs)
  );
}

/** In-progress tasks come from the leases in memory, in seq order (or reversed), then their rows. */
function listLeased(stmts: Statements, mem: MemoryState, query: ListRequest, limit: number): ListPage {
  const asc = (query.order ?? "oldest") === "oldest";
  const from = parseCursor(query.cursor, "open", asc).seq;
  const seqs = [...mem.leasesBySeq.values()]
    .filter((l) => (asc ? l.seq > from : l.seq < from) && (query.queue === undefined || l.queue === query.queue) && (query.workerId === undefined || l.workerId === query.workerId))
    .map((l) => l.seq)
    .sort((a, b) => (asc ? a - b : b - a));
  const tasks: Task[] = [];
  let lastSeq = from;
  let i = 0;
  let replyBytes = 0;
  for (; i < seqs.length && tasks.length < limit; i++) {
    const row = stmts.bySeq.get(seqs[i]!);
    const task = row === null ? null : withLease(mem, row);
    if (row === null || task === null || !matches(task, { ...query, status: "in_progress" })) {
      lastSeq = seqs[i]!;
      continue;
    }
    replyBytes += rowDataBytes(row);
    if (tasks.length > 0 && replyBytes > query.maxDataBytes) break;
    lastSeq = seqs[i]!;
    tasks.push(task);
  }
  return { tasks, nextCursor: i < seqs.length ? String(lastSeq) : null };
}

/**
 * How many tasks match: from memory for status and queue alone; otherwise counted a window at a
 * time, yielding between windows so a count over millions of rows never holds the event loop long.
 */
export async function countTasks(stmts: Statements, mem: MemoryState, filter: TaskFilter, settled: () => Promise<void>): Promise<number> {
  const leasedWorker = filter.workerId !== undefined && kindOf(filter.status) !== "finished";
  if (filter.idempotencyKey !== undefined || filter.status === "in_progress" || leasedWorker) {
    let n = 0;
    let cursor: string | undefined;
    do {
      await settled();
      const page = listPage(stmts, mem, { ...filter, limit: 1000, maxDataBytes: Number.MAX_SAFE_INTEGER, ...(cursor === undefined ? {} : { cursor }) }, 1000);
      n += page.tasks.length;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return n;
  }
  if (filter.type === undefined && filter.workerId === undefined && filter.updatedBeforeMs === undefined) return fromCounts(mem, filter);
  const kind = kindOf(filter.status);
  const status = filter.status === undefined ? null : STATUS[filter.status];
  let from: Key = { k: -1, seq: 0 };
  let n = 0;
  for (;;) {
    await settled();
    const end = windowEnd(stmts, kind, true, status, from, COUNT_WINDOW_ROWS);
    const upTo = end ?? { k: MAX_KEY, seq: MAX_KEY };
    const seqKind = kind !== "finished";
    const row = stmts
      .listCount(kind)
      .get(seqKind ? from.seq : from.k, status, ...filterArgs(filter), seqKind ? upTo.seq : upTo.k, null, seqKind ? null : from.seq, seqKind ? null : upTo.seq);
    n += row?.n ?? 0;
    if (end === null) break;
    from = end;
    // Between windows other work runs; a row that moves meanwhile may be counted once or not at all.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  // A pending row under a live lease is in_progress, not pending.
  if (filter.status === "pending") n -= countLeasedMatching(stmts, mem, filter);
  return Math.max(0, n);
}

function countLeasedMatching(stmts: Statements, mem: MemoryState, filter: TaskFilter): number {
  let n = 0;
  for (const lease of mem.leasesBySeq.values()) {
    if (filter.queue !== undefined && lease.queue !== filter.queue) continue;
    const row = stmts.bySeq.get(lease.seq);
    if (row !== null && matches({ ...withLease(mem, row), status: "pending" }, filter)) n++;
  }
  return n;
}

function fromCounts(mem: MemoryState, filter: TaskFilter): number {
  const counts = mem.counts();
  const queues = filter.queue === undefined ? counts.queues : counts.queues.filter((q) => q.queue === filter.queue);
  let n = 0;
  for (const q of queues) {
    const pending = q.pending.high + q.pending.normal + q.pending.low;
    const all = pending + q.scheduled + q.inProgress + q.completed + q.dead + q.cancelled;
    const byStatus: Record<string, number> = {
      pending, scheduled: q.scheduled - q.retrying, failed: q.retrying, in_progress: q.inProgress, completed: q.completed, dead: q.dead, cancelled: q.cancelled,
    };
    n += filter.status === undefined ? all : (byStatus[filter.status] ?? 0);
  }
  return n;
}

/** What a row adds to a reply frame: its payload, result and error, and the fixed fields. */
function rowDataBytes(row: TaskRow): number {
  return row.payload.byteLength + (row.result?.byteLength ?? 0) + (row.error?.length ?? 0) * 3;
}

/** The longest prefix of a page that fits one reply frame (at least one row). */
function fitBudget(rows: TaskRow[], maxDataBytes: number): TaskRow[] {
  let bytes = 0;
  for (let i = 0; i < rows.length; i++) {
    bytes += rowDataBytes(rows[i]!);
    if (i > 0 && bytes > maxDataBytes) return rows.slice(0, i);
  }
  return rows;
}
