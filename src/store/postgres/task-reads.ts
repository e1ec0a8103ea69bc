// Reads of the tasks table: one task, a page of a filtered list (oldest or newest first; finished
// tasks listed by when they finished), how many match a filter, the counts per queue, and where a
// pending task stands in its line. Each filter becomes SQL conditions on bound parameters.

import type { SQL } from "bun";
import { BrokerError, ErrorCode } from "../../protocol/errors.ts";
import { PRIORITY_TIERS } from "../../protocol/limits.ts";
import { isUuid } from "../../protocol/uuid.ts";
import type { QueueCounts, Task, TaskCounts } from "../../rules/task.ts";
import type { ListPage, ListRequest, ReadyAhead, TaskFilter } from "../store.ts";
import { rowToTask, TASK_COLUMNS, taskDataBytes, type TaskRow } from "./task-rows.ts";

export async function getTask(sql: SQL, id: string): Promise<Task | null> {
  const row = await getRow(sql, id);
  return row === null ? null : rowToTask(row);
}

export async function getRow(sql: SQL, id: string): Promise<TaskRow | null> {
  const key = id.toLowerCase();
  if (!isUuid(key)) return null;
  const [row] = (await sql`SELECT ${sql.unsafe(TASK_COLUMNS)} FROM tasks WHERE id = ${key}`) as TaskRow[];
  return row ?? null;
}

/** A filter as SQL conditions, with their parameters ($1, $2, ... in order). */
function where(filter: TaskFilter, params: unknown[]): string[] {
  const conditions: string[] = [];
  const add = (sqlText: (p: string) => string, value: unknown): void => {
    params.push(value);
    conditions.push(sqlText(`$${params.length}`));
  };
  if (filter.status !== undefined) add((p) => `status = ${p}`, filter.status);
  if (filter.queue !== undefined) add((p) => `queue = ${p}`, filter.queue);
  if (filter.type !== undefined) add((p) => `type = ${p}`, filter.type);
  if (filter.idempotencyKey !== undefined) add((p) => `idempotency_key = ${p}`, filter.idempotencyKey);
  if (filter.workerId !== undefined) add((p) => `worker_id = ${p}`, filter.workerId);
  if (filter.updatedBeforeMs !== undefined) add((p) => `updated_at < ${p}::bigint`, filter.updatedBeforeMs);
  return conditions;
}

/**
 * Oldest first by default: completed tasks by (finished_at, id), the others by id (UUIDv7, so
 * submission order). The cursor is the last task's sort key.
 */
export async function listTasks(sql: SQL, query: ListRequest): Promise<ListPage> {
  const byFinish = query.status === "completed";
  const desc = query.order === "newest";
  const params: unknown[] = [];
  const conditions = where(query, params);
  if (query.cursor !== undefined) {
    const after = parseCursor(query.cursor, byFinish);
    const op = desc ? "<" : ">";
    if (byFinish) {
      params.push(after.finishedAt, after.id);
      conditions.push(`(finished_at, id) ${op} ($${params.length - 1}::bigint, $${params.length}::uuid)`);
    } else {
      params.push(after.id);
      conditions.push(`id ${op} $${params.length}::uuid`);
    }
  }
  const limit = Math.max(1, Math.min(1000, Math.floor(query.limit)));
  const dir = desc ? "DESC" : "ASC";
  const order = byFinish ? `finished_at ${dir}, id ${dir}` : `id ${dir}`;
  params.push(limit + 1);
  const text = `SELECT ${TASK_COLUMNS} FROM tasks ${conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : ""} ORDER BY ${order} LIMIT $${params.length}`;
  const rows = (await sql.unsafe(text, params)) as TaskRow[];
  const tasks: Task[] = [];
  let bytes = 0;
  for (const row of rows.slice(0, limit)) {
    const task = rowToTask(row);
    bytes += taskDataBytes(task);
    if (tasks.length > 0 && bytes > query.maxDataBytes) break;
    tasks.push(task);
  }
  const last = tasks[tasks.length - 1];
  const more = rows.length > tasks.length && last !== undefined;
  return { tasks, nextCursor: more ? (byFinish ? `${last.finishedAtMs}:${last.id}` : last.id) : null };
}

function parseCursor(cursor: string, byFinish: boolean): { id: string; finishedAt: number } {
  const [first, second] = cursor.split(":");
  if (byFinish && second !== undefined && /^\d{1,16}$/.test(first!) && isUuid(second)) return { id: second, finishedAt: Number(first) };
  if (!byFinish && second === undefined && isUuid(cursor)) return { id: cursor, finishedAt: 0 };
  throw new BrokerError(ErrorCode.InvalidField, `cursor ${JSON.stringify(cursor)} is not one this store returned`, { field: "cursor" });
}

export async function countMatching(sql: SQL, filter: TaskFilter): Promise<number> {
  const params: unknown[] = [];
  const conditions = where(filter, params);
  const [row] = (await sql.unsafe(`SELECT count(*)::bigint AS n FROM tasks ${conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : ""}`, params)) as {
    n: string;
  }[];
  return Number(row!.n);
}

/** Counts of the whole cluster: one grouped read per kind of status, each on its own partial index. */
export async function countTasks(sql: SQL): Promise<TaskCounts> {
  const [pending, waiting, running, finished] = await Promise.all([
    sql`SELECT queue, count(*) FILTER (WHERE priority >= ${PRIORITY_TIERS.high.min})::int AS high,
          count(*) FILTER (WHERE priority >= ${PRIORITY_TIERS.normal.min} AND priority < ${PRIORITY_TIERS.high.min})::int AS normal,
          count(*) FILTER (WHERE priority < ${PRIORITY_TIERS.normal.min})::int AS low, min(ready_at) AS oldest
        FROM tasks WHERE status = 'pending' GROUP BY queue` as Promise<{ queue: string; high: number; normal: number; low: number; oldest: string }[]>,
    sql`SELECT queue, status, count(*)::int AS n FROM tasks WHERE status IN ('scheduled', 'failed') GROUP BY queue, status` as Promise<
      { queue: string; status: string; n: number }[]
    >,
    sql`SELECT queue, count(*)::int AS n FROM tasks WHERE status = 'in_progress' GROUP BY queue` as Promise<{ queue: string; n: number }[]>,
    sql`SELECT queue, status, count(*)::int AS n FROM tasks WHERE status IN ('completed', 'dead', 'cancelled') GROUP BY queue, status` as Promise<
      { queue: string; status: "completed" | "dead" | "cancelled"; n: number }[]
    >,
  ]);
  const queues = new Map<string, QueueCounts>();
  const entry = (queue: string): QueueCounts => {
    let q = queues.get(queue);
    if (q === undefined) {
      q = { queue, pending: { high: 0, normal: 0, low: 0 }, scheduled: 0, inProgress: 0, oldestReadyAtMs: null, retrying: 0, completed: 0, dead: 0, cancelled: 0 };
      queues.set(queue, q);
    }
    return q;
  };
  for (const r of pending) Object.assign(entry(r.queue), { pending: { high: r.high, normal: r.normal, low: r.low }, oldestReadyAtMs: Number(r.oldest) });
  for (const r of waiting) {
    const q = entry(r.queue);
    q.scheduled += r.n;
    if (r.status === "failed") q.retrying += r.n;
  }
  for (const r of running) entry(r.queue).inProgress = r.n;
  for (const r of finished) entry(r.queue)[r.status] = r.n;
  const list = [...queues.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0));
  const sum = (f: (q: QueueCounts) => number): number => list.reduce((n, q) => n + f(q), 0);
  return {
    pending: sum((q) => q.pending.high + q.pending.normal + q.pending.low),
    scheduled: sum((q) => q.scheduled),
    inProgress: sum((q) => q.inProgress),
    retrying: sum((q) => q.retrying),
    completed: sum((q) => q.completed),
    dead: sum((q) => q.dead),
    cancelled: sum((q) => q.cancelled),
    queues: list,
  };
}

/** The pending tasks of its queue a claim takes first; null unless the task is pending. */
export async function readyAhead(sql: SQL, id: string): Promise<ReadyAhead | null> {
  const key = id.toLowerCase();
  if (!isUuid(key)) return null;
  const [row] = (await sql`
    SELECT (SELECT count(*) FROM tasks o WHERE o.status = 'pending' AND o.queue = t.queue AND o.priority > t.priority)::int AS higher,
           (SELECT count(*) FROM tasks o WHERE o.status = 'pending' AND o.queue = t.queue AND o.priority = t.priority AND o.ready_seq < t.ready_seq)::int AS same
    FROM tasks t WHERE t.id = ${key} AND t.status = 'pending'`) as { higher: number; same: number }[];
  return row === undefined ? null : { higherPriority: row.higher, samePriority: row.same };
}
