// The task as the SDK hands it to callers: the wire's TaskInfo with payload and result decoded
// (JSON parsed, bytes kept as bytes). Pure conversion; no requests here.

import type { TaskInfo } from "../protocol/messages.ts";
import type { WireTaskStatus } from "../protocol/wire-values.ts";
import { decodeValue } from "./payload.ts";

export type TaskStatus = WireTaskStatus;

export interface Task<Payload = unknown, Result = unknown> {
  id: string;
  status: TaskStatus;
  type: string;
  queue: string;
  priority: number;
  attempts: number;
  maxRetries: number;
  leaseMs: number;
  runAtMs: number | null;
  createdAtMs: number;
  updatedAtMs: number;
  startedAtMs: number | null;
  finishedAtMs: number | null;
  leaseExpiresAtMs: number | null;
  workerId: string | null;
  idempotencyKey: string | null;
  /** Parsed JSON, or a Uint8Array when the payload was sent as bytes. */
  payload: Payload;
  /** Parsed JSON or bytes once completed; null before, or when the handler returned nothing. */
  result: Result | null;
  /** The last failure's message (and stack), or null. */
  error: string | null;
}

/** Completed, dead and cancelled tasks never change on their own. */
export const FINISHED_TASK_STATUSES: readonly TaskStatus[] = ["completed", "dead", "cancelled"];

export function toTask(info: TaskInfo): Task {
  return {
    id: info.id,
    status: info.status,
    type: info.type,
    queue: info.queue,
    priority: info.priority,
    attempts: info.attempts,
    maxRetries: info.maxRetries,
    leaseMs: info.leaseMs,
    runAtMs: info.runAtMs,
    createdAtMs: info.createdAtMs,
    updatedAtMs: info.updatedAtMs,
    startedAtMs: info.startedAtMs,
    finishedAtMs: info.finishedAtMs,
    leaseExpiresAtMs: info.leaseExpiresAtMs,
    workerId: info.workerId,
    idempotencyKey: info.idempotencyKey,
    payload: decodeValue(info.payload, info.payloadIsJson),
    result: info.result === null ? null : decodeValue(info.result, info.resultIsJson),
    error: info.error,
  };
}
