// Submits of one group as one INSERT: idempotency keys looked up first (in the database and among
// the group's own new tasks), the new rows inserted from arrays, a key taken meanwhile by another
// broker answered from its row. Ready tasks join the end of their line (ready_seq) in submit order.

import type { SQL } from "bun";
import { uuidv7 } from "../../protocol/uuid.ts";
import type { NewTask, SubmitOutcome, TaskStatus } from "../../rules/task.ts";
import type { BatchKind, TxNotes } from "./pg-group.ts";
import { statusOf } from "./task-rows.ts";

export interface SubmitItem {
  tasks: readonly NewTask[];
  nowMs: number;
}

interface NewRow {
  id: string;
  task: NewTask;
  nowMs: number;
  status: "pending" | "scheduled";
}

export const submitBatch: BatchKind<SubmitItem, SubmitOutcome[]> = {
  name: "submit",
  async run(tx: SQL, notes: TxNotes, items: readonly SubmitItem[]): Promise<SubmitOutcome[][]> {
    const keys = [...new Set(items.flatMap((i) => i.tasks.map((t) => t.idempotencyKey).filter((k): k is string => k !== null)))];
    const held = keys.length === 0 ? new Map<string, SubmitOutcome>() : await heldKeys(tx, keys);
    const rows: NewRow[] = [];
    const outcomes = items.map((item) =>
      item.tasks.map((task): SubmitOutcome => {
        const key = task.idempotencyKey;
        const existing = key === null ? undefined : held.get(key);
        if (existing !== undefined) return { ...existing, duplicate: true };
        const status = task.runAtMs !== null && task.runAtMs > item.nowMs ? "scheduled" : "pending";
        const row: NewRow = { id: uuidv7(item.nowMs), task, nowMs: item.nowMs, status };
        rows.push(row);
        // Later tasks of the group with the same key are duplicates of this one.
        if (key !== null) held.set(key, { id: row.id, status, duplicate: false });
        return { id: row.id, status, duplicate: false };
      }),
    );
    if (rows.length === 0) return outcomes;
    const inserted = await insertRows(tx, rows);
    const lost = rows.filter((r) => !inserted.has(r.id));
    if (lost.length > 0) await answerRaces(tx, lost, outcomes);
    for (const row of rows) {
      if (!inserted.has(row.id)) continue;
      if (row.status === "pending") notes.madeReady(row.task.queue);
      else notes.due(row.task.runAtMs!);
    }
    return outcomes;
  },
};

async function heldKeys(tx: SQL, keys: string[]): Promise<Map<string, SubmitOutcome>> {
  const found = (await tx`SELECT id, status, idempotency_key FROM tasks WHERE idempotency_key = ANY(${keys}::text[])`) as {
    id: string;
    status: string;
    idempotency_key: string;
  }[];
  return new Map(found.map((r) => [r.idempotency_key, { id: r.id, status: statusOf(r.status), duplicate: true }]));
}

/** One INSERT for the group; returns the ids written (a key another broker took meanwhile is skipped). */
async function insertRows(tx: SQL, rows: NewRow[]): Promise<Set<string>> {
  const col = <T>(f: (r: NewRow) => T): T[] => rows.map(f);
  const written = (await tx`
    INSERT INTO tasks (id, queue, type, priority, status, payload, payload_is_json, max_retries, lease_ms, idempotency_key,
                       run_at, ready_seq, ready_at, created_at, updated_at)
    SELECT u.id, u.queue, u.type, u.priority, u.status, u.payload, u.payload_is_json, u.max_retries, u.lease_ms, u.idempotency_key,
           u.run_at, CASE WHEN u.status = 'pending' THEN nextval('ready_seq') END, CASE WHEN u.status = 'pending' THEN u.now END,
           u.now, u.now
    FROM unnest(${col((r) => r.id)}::uuid[], ${col((r) => r.task.queue)}::text[], ${col((r) => r.task.type)}::text[],
                ${col((r) => r.task.priority)}::smallint[], ${col((r) => r.status)}::text[], ${col((r) => r.task.payload)}::bytea[],
                ${col((r) => r.task.payloadIsJson)}::boolean[], ${col((r) => r.task.maxRetries)}::integer[],
                ${col((r) => r.task.leaseMs)}::bigint[], ${col((r) => r.task.idempotencyKey)}::text[],
                ${col((r) => r.task.runAtMs)}::bigint[], ${col((r) => r.nowMs)}::bigint[])
         WITH ORDINALITY AS u(id, queue, type, priority, status, payload, payload_is_json, max_retries, lease_ms, idempotency_key, run_at, now, ord)
    ORDER BY u.ord
    ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id`) as { id: string }[];
  return new Set(written.map((r) => r.id));
}

/** Tasks whose key another broker committed first: each answers as a duplicate of that broker's task. */
async function answerRaces(tx: SQL, lost: NewRow[], outcomes: SubmitOutcome[][]): Promise<void> {
  const held = await heldKeys(tx, lost.map((r) => r.task.idempotencyKey!));
  const byId = new Map(lost.map((r) => [r.id, held.get(r.task.idempotencyKey!)]));
  for (const list of outcomes) {
    list.forEach((o, i) => {
      if (!byId.has(o.id)) return;
      const winner = byId.get(o.id);
      if (winner === undefined) throw new Error(`idempotency key of task ${o.id} conflicted but no task holds it`);
      list[i] = { id: winner.id, status: winner.status as TaskStatus, duplicate: true };
    });
  }
}
