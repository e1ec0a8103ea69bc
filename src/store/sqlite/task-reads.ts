// How stored rows are found and shown through the Store contract: a leased row (pending in the
// file, since leases live in memory) is in_progress with its lease, and list pages stop before one
// reply frame is full. Reads only; what callers outside a group show, they wait for first.

import { BrokerError, ErrorCode } from "../../protocol/errors.ts";
import { uuidFromString } from "../../protocol/uuid.ts";
import type { ListPage, ListRequest } from "../store.ts";
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

/** One page of `list`, after the rows with seq > `after`. */
export function listPage(stmts: Statements, mem: MemoryState, query: ListRequest, after: number, limit: number): ListPage {
  if (query.status === "in_progress") return listLeased(stmts, mem, query, after, limit);
  const status = query.status === undefined ? "any" : query.status === "completed" ? "completed" : "open";
  const stmt = stmts.list(status, query.queue !== undefined, query.type !== undefined);
  const { rows, read, lastSeq } = stmt.allCounting(after, query.status === undefined ? null : STATUS[query.status], query.queue ?? null, query.type ?? null, limit + 1);
  const page = fitBudget(rows.slice(0, limit), query.maxDataBytes);
  // Rows that failed their checksums were read but are not in `rows`: more may follow them.
  const more = rows.length > page.length || read > limit;
  const cursor = page[page.length - 1]?.seq ?? lastSeq;
  // Leased rows are pending in the file; asked for pending, they are not.
  const tasks = page.map((row) => withLease(mem, row)).filter((t) => query.status === undefined || t.status === query.status);
  return { tasks, nextCursor: more && cursor !== null ? String(cursor) : null };
}

/** In-progress tasks come from the leases in memory, in seq order, then their rows. */
function listLeased(stmts: Statements, mem: MemoryState, query: ListRequest, after: number, limit: number): ListPage {
  const seqs = [...mem.leasesBySeq.values()]
    .filter((l) => l.seq > after && (query.queue === undefined || l.queue === query.queue))
    .map((l) => l.seq)
    .sort((a, b) => a - b);
  const tasks: Task[] = [];
  let lastSeq = after;
  let i = 0;
  let replyBytes = 0;
  for (; i < seqs.length && tasks.length < limit; i++) {
    const row = stmts.bySeq.get(seqs[i]!);
    if (row === null || (query.type !== undefined && row.type !== query.type)) {
      lastSeq = seqs[i]!;
      continue;
    }
    replyBytes += rowDataBytes(row);
    if (tasks.length > 0 && replyBytes > query.maxDataBytes) break;
    lastSeq = seqs[i]!;
    tasks.push(withLease(mem, row));
  }
  return { tasks, nextCursor: i < seqs.length ? String(lastSeq) : null };
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
