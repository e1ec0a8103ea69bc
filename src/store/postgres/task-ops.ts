// An operator's moves on one task (cancel, re-run) and the reads (one task, a page of the list,
// the counts, retention's deletes). The moves lock their row and ask rules/transitions.ts
// whether the status allows them; reads see what is committed, whichever broker committed it.

import type { SQL } from "bun";
import { BrokerError, ErrorCode } from "../../protocol/errors.ts";
import { isUuid } from "../../protocol/uuid.ts";
import { PRIORITY_TIERS } from "../../protocol/limits.ts";
import { checkOperatorMove } from "../../rules/transitions.ts";
import type { CancelOutcome, QueueCounts, Task, TaskCounts } from "../../rules/task.ts";
import type { TokenCipher } from "../token-cipher.ts";
import type { ListPage, ListRequest, PurgeStep } from "../store.ts";
import { notFound } from "./lease-refs.ts";
import type { TxNotes } from "./pg-group.ts";
import { rowToTask, TASK_COLUMNS, taskDataBytes, type TaskRow } from "./task-rows.ts";

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

export async function getTask(sql: SQL, id: string): Promise<Task | null> {
  const key = id.toLowerCase();
  if (!isUuid(key)) return null;
  const [row] = (await sql`SELECT ${sql.unsafe(TASK_COLUMNS)} FROM tasks WHERE id = ${key}`) as TaskRow[];
  return row === undefined ? null : rowToTask(row);
}

/** Oldest first (ids are time-ordered UUIDv7); the cursor is the last id of the page. */
export async function listTasks(sql: SQL, query: ListRequest): Promise<ListPage> {
  if (query.cursor !== undefined && !isUuid(query.cursor)) {
    throw new BrokerError(ErrorCode.InvalidField, `cursor ${JSON.stringify(query.cursor)} is not one this store returned`, { field: "cursor" });
  }
  const limit = Math.max(1, Math.min(1000, Math.floor(query.limit)));
  const rows = (await sql`
    SELECT ${sql.unsafe(TASK_COLUMNS)} FROM tasks
    WHERE (${query.cursor ?? null}::uuid IS NULL OR id > ${query.cursor ?? null}::uuid)
      AND (${query.status ?? null}::text IS NULL OR status = ${query.status ?? null}::text)
      AND (${query.queue ?? null}::text IS NULL OR queue = ${query.queue ?? null}::text)
      AND (${query.type ?? null}::text IS NULL OR type = ${query.type ?? null}::text)
    ORDER BY id LIMIT ${limit + 1}`) as TaskRow[];
  const tasks: Task[] = [];
  let bytes = 0;
  for (const row of rows.slice(0, limit)) {
    const task = rowToTask(row);
    bytes += taskDataBytes(task);
    if (tasks.length > 0 && bytes > query.maxDataBytes) break;
    tasks.push(task);
  }
  const more = rows.length > tasks.length;
  return { tasks, nextCursor: more ? tasks[tasks.length - 1]!.id : null };
}

/** Counts of the whole cluster: one grouped read per status kind, each on its own index. */
export async function countTasks(sql: SQL): Promise<TaskCounts> {
  const [pending, scheduled, running] = await Promise.all([
    sql`SELECT queue, count(*) FILTER (WHERE priority >= ${PRIORITY_TIERS.high.min})::int AS high,
          count(*) FILTER (WHERE priority >= ${PRIORITY_TIERS.normal.min} AND priority < ${PRIORITY_TIERS.high.min})::int AS normal,
          count(*) FILTER (WHERE priority < ${PRIORITY_TIERS.normal.min})::int AS low, min(ready_at) AS oldest
        FROM tasks WHERE status = 'pending' GROUP BY queue` as Promise<{ queue: string; high: number; normal: number; low: number; oldest: string }[]>,
    sql`SELECT queue, count(*)::int AS n FROM tasks WHERE status IN ('scheduled', 'failed') GROUP BY queue` as Promise<{ queue: string; n: number }[]>,
    sql`SELECT queue, count(*)::int AS n FROM tasks WHERE status = 'in_progress' GROUP BY queue` as Promise<{ queue: string; n: number }[]>,
  ]);
  const queues = new Map<string, QueueCounts>();
  const entry = (queue: string): QueueCounts => {
    let q = queues.get(queue);
    if (q === undefined) {
      q = { queue, pending: { high: 0, normal: 0, low: 0 }, scheduled: 0, inProgress: 0, oldestReadyAtMs: null };
      queues.set(queue, q);
    }
    return q;
  };
  for (const r of pending) Object.assign(entry(r.queue), { pending: { high: r.high, normal: r.normal, low: r.low }, oldestReadyAtMs: Number(r.oldest) });
  for (const r of scheduled) entry(r.queue).scheduled = r.n;
  for (const r of running) entry(r.queue).inProgress = r.n;
  const list = [...queues.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0));
  const sum = (f: (q: QueueCounts) => number): number => list.reduce((n, q) => n + f(q), 0);
  return {
    pending: sum((q) => q.pending.high + q.pending.normal + q.pending.low),
    scheduled: sum((q) => q.scheduled),
    inProgress: sum((q) => q.inProgress),
    queues: list,
  };
}

/** One retention step; rows another broker is deleting at the same moment are skipped (it deletes them). */
export async function purgeFinished(sql: SQL, beforeMs: number, limit: number): Promise<PurgeStep> {
  const max = Math.max(0, Math.floor(limit));
  if (max === 0) return { purged: 0, done: false };
  const rows = await sql`
    DELETE FROM tasks WHERE id IN (
      SELECT id FROM tasks WHERE status IN ('completed', 'dead', 'cancelled') AND finished_at < ${beforeMs}
      ORDER BY finished_at LIMIT ${max} FOR UPDATE SKIP LOCKED)
    RETURNING 1`;
  return { purged: rows.length, done: rows.length < max };
}
