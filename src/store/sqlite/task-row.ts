// How a task is laid out in SQLite: status codes, flag bits, the row shape and its mapping to the
// Task of the Store contract. Pure mapping: runs no SQL.

import { uuidToString } from "../../protocol/uuid.ts";
import { TASK_STATUSES, type Task, type TaskStatus } from "../../rules/task.ts";

/** Status as stored: the index in TASK_STATUSES (a small int keeps rows and the status index small). */
export const STATUS = {
  pending: 0,
  scheduled: 1,
  in_progress: 2,
  completed: 3,
  failed: 4,
  dead: 5,
  cancelled: 6,
} as const satisfies Record<TaskStatus, number>;
export type StatusCode = (typeof STATUS)[TaskStatus];

export function statusName(code: number): TaskStatus {
  const name = TASK_STATUSES[code];
  if (name === undefined) throw new Error(`unknown status code ${code} in the tasks table`);
  return name;
}

/** Bits of the flags column. */
export const FLAG = {
  payloadIsJson: 1,
  resultIsJson: 2,
} as const;

export interface TaskRow {
  seq: number;
  id: Uint8Array;
  type: string;
  queue: string;
  payload: Uint8Array;
  flags: number;
  priority: number;
  status: number;
  run_at: number | null;
  attempts: number;
  max_retries: number;
  lease_ms: number;
  worker_id: string | null;
  idempotency_key: string | null;
  result: Uint8Array | null;
  error: string | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  /** Checksums of the row (row-checksum.ts): every read of a whole row is checked against them. */
  fixed_crc: number;
  state_crc: number;
}

/** What a claim reads (Statements.claimRows): the whole row, since the checksums cover every column. */
export type ClaimRow = TaskRow;

/** The task a claim hands out: the row as it is in the file, in progress under a new lease. */
export function claimedTask(row: ClaimRow, workerId: string, startedAtMs: number, leaseExpiresAtMs: number): Task {
  return toTask(row, "in_progress", null, workerId, startedAtMs, null, leaseExpiresAtMs);
}

export function rowToTask(row: TaskRow): Task {
  return toTask(row, statusName(row.status), row.result, row.worker_id, row.started_at, row.finished_at, null);
}

/** One object literal with every field (positional arguments: no intermediate object per task). */
function toTask(
  row: ClaimRow,
  status: TaskStatus,
  result: Uint8Array | null,
  workerId: string | null,
  startedAtMs: number | null,
  finishedAtMs: number | null,
  leaseExpiresAtMs: number | null,
): Task {
  return {
    id: uuidToString(row.id),
    type: row.type,
    queue: row.queue,
    payload: row.payload,
    payloadIsJson: (row.flags & FLAG.payloadIsJson) !== 0,
    priority: row.priority,
    runAtMs: row.run_at,
    maxRetries: row.max_retries,
    leaseMs: row.lease_ms,
    idempotencyKey: row.idempotency_key,
    status,
    attempts: row.attempts,
    result,
    // A claimed (pending) row has no result, whatever a flag left from earlier says.
    resultIsJson: result !== null && (row.flags & FLAG.resultIsJson) !== 0,
    error: row.error,
    workerId,
    createdAtMs: row.created_at,
    updatedAtMs: row.updated_at,
    startedAtMs,
    finishedAtMs,
    leaseExpiresAtMs,
  };
}
