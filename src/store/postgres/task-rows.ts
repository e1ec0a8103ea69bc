// How a task is laid out in PostgreSQL: the columns a read selects and the mapping of a row to the
// Task of the Store contract. Pure mapping: runs no SQL.

import type { Task, TaskStatus } from "../../rules/task.ts";
import { TASK_STATUSES } from "../../rules/task.ts";

/** Every column a Task is made of (bigint times come back as text and are read with Number). */
export const TASK_COLUMNS = `id, queue, type, priority, status, payload, payload_is_json, result, result_is_json, error, attempts,
  max_retries, lease_ms, idempotency_key, run_at, created_at, updated_at, started_at, finished_at, worker_id, lease_expires_at`;

/** The same, qualified by the alias `t` (for statements that join). */
export const T_TASK_COLUMNS = TASK_COLUMNS.split(",").map((c) => `t.${c.trim()}`).join(", ");

export interface TaskRow {
  id: string;
  queue: string;
  type: string;
  priority: number;
  status: string;
  payload: Uint8Array;
  payload_is_json: boolean;
  result: Uint8Array | null;
  result_is_json: boolean;
  error: string | null;
  attempts: number;
  max_retries: number;
  lease_ms: string | number;
  idempotency_key: string | null;
  run_at: string | number | null;
  created_at: string | number;
  updated_at: string | number;
  started_at: string | number | null;
  finished_at: string | number | null;
  worker_id: string | null;
  lease_expires_at: string | number | null;
}

const STATUSES = new Set<string>(TASK_STATUSES);

export function statusOf(text: string): TaskStatus {
  if (!STATUSES.has(text)) throw new Error(`unknown status ${JSON.stringify(text)} in the tasks table`);
  return text as TaskStatus;
}

export function rowToTask(row: TaskRow): Task {
  const status = statusOf(row.status);
  return {
    id: row.id,
    type: row.type,
    queue: row.queue,
    payload: bytes(row.payload),
    payloadIsJson: row.payload_is_json,
    priority: row.priority,
    runAtMs: ms(row.run_at),
    maxRetries: row.max_retries,
    leaseMs: Number(row.lease_ms),
    idempotencyKey: row.idempotency_key,
    status,
    attempts: row.attempts,
    result: row.result === null ? null : bytes(row.result),
    resultIsJson: row.result !== null && row.result_is_json,
    error: row.error,
    workerId: row.worker_id,
    createdAtMs: Number(row.created_at),
    updatedAtMs: Number(row.updated_at),
    startedAtMs: ms(row.started_at),
    finishedAtMs: ms(row.finished_at),
    leaseExpiresAtMs: status === "in_progress" ? ms(row.lease_expires_at) : null,
  };
}

export function ms(value: string | number | null): number | null {
  return value === null ? null : Number(value);
}

/** A plain Uint8Array view of what the driver returns (a Buffer), so tasks compare alike whatever the store. */
export function bytes(value: Uint8Array): Uint8Array {
  return value.constructor === Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/** Bytes of task data a row adds to a reply: payload, result and error. */
export function taskDataBytes(task: Task): number {
  return task.payload.byteLength + (task.result?.byteLength ?? 0) + (task.error?.length ?? 0) * 3;
}
