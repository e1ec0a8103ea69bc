// Byte layouts of the structs that several messages share: TaskSpec, LeaseRef, TaskResultItem,
// ClaimedTask, TaskInfo. Decoders check every limit of limits.ts a single field can be checked against;
// rules that need broker state (max_batch_claim, does the task exist) are not checked here.

import type { ByteReader } from "./byte-reader.ts";
import type { ByteWriter } from "./byte-writer.ts";
import {
  MAX_ERROR_BYTES,
  MAX_IDEMPOTENCY_KEY_BYTES,
  MAX_LEASE_MS,
  MAX_PAYLOAD_BYTES,
  MAX_QUEUE_BYTES,
  MAX_RESULT_BYTES,
  MAX_RETRIES_LIMIT,
  MAX_STR_BYTES,
  MAX_TYPE_BYTES,
  MAX_WORKER_ID_BYTES,
  MIN_LEASE_MS,
  QUEUE_NAME_PATTERN,
} from "./limits.ts";
import type { ClaimedTask, LeaseRef, TaskInfo, TaskResultItem, TaskSpec } from "./messages.ts";
import { TASK_OUTCOME_BYTE, TASK_OUTCOMES, TASK_STATUS_BYTE, WIRE_TASK_STATUSES } from "./wire-values.ts";

/** The queue name an empty wire string stands for. */
export const DEFAULT_QUEUE = "default";

export const TaskSpecFlag = {
  hasRunAt: 0x01,
  hasMaxRetries: 0x02,
  hasLeaseMs: 0x04,
  hasIdempotencyKey: 0x08,
  hasPriority: 0x10,
  payloadIsJson: 0x20,
} as const;
const TASK_SPEC_KNOWN_FLAGS = 0x3f;

export const TaskInfoFlag = {
  payloadIsJson: 0x01,
  hasResult: 0x02,
  resultIsJson: 0x04,
  hasError: 0x08,
  hasWorkerId: 0x10,
  hasIdempotencyKey: 0x20,
} as const;
const TASK_INFO_KNOWN_FLAGS = 0x3f;

/** Smallest encodings, used to bound list counts before allocating. */
export const MIN_TASK_SPEC_BYTES = 1 + 2 + 2 + 4;
export const LEASE_REF_BYTES = 16 + 4;
/** id, token, outcome, resultIsJson, result length, error length. */
export const MIN_TASK_RESULT_BYTES = 16 + 4 + 1 + 1 + 4 + 4;
export const MIN_CLAIMED_TASK_BYTES = 16 + 4 + 8 + 2 + 1 + 2 + 2 + 1 + 4 + 8 + 2;
export const MIN_TASK_INFO_BYTES = 1 + 16 + 1 + 2 + 2 + 1 + 2 + 2 + 4 + 6 * 8 + 4;

/** A queue name as the wire carries it: "" means the default queue; anything else must match the pattern. */
export function readQueueName(r: ByteReader, field: string): string {
  const queue = r.name(field, MAX_QUEUE_BYTES);
  if (queue === "") return DEFAULT_QUEUE;
  if (!QUEUE_NAME_PATTERN.test(queue)) {
    throw r.fail(field, `${JSON.stringify(queue)} is not a queue name (letters, digits and _ . : - only)`);
  }
  return queue;
}

export function readWorkerId(r: ByteReader, field: string): string {
  const workerId = r.name(field, MAX_WORKER_ID_BYTES);
  if (workerId === "") throw r.fail(field, "must not be empty");
  return workerId;
}

export function writeTaskSpec(w: ByteWriter, t: TaskSpec): void {
  let flags = t.payloadIsJson ? TaskSpecFlag.payloadIsJson : 0;
  if (t.runAtMs !== undefined) flags |= TaskSpecFlag.hasRunAt;
  if (t.maxRetries !== undefined) flags |= TaskSpecFlag.hasMaxRetries;
  if (t.leaseMs !== undefined) flags |= TaskSpecFlag.hasLeaseMs;
  if (t.idempotencyKey !== undefined) flags |= TaskSpecFlag.hasIdempotencyKey;
  if (t.priority !== undefined) flags |= TaskSpecFlag.hasPriority;
  w.u8("flags", flags);
  w.str("type", t.type);
  w.str("queue", t.queue);
  if (t.priority !== undefined) w.u8("priority", t.priority);
  if (t.runAtMs !== undefined) w.u64("runAtMs", t.runAtMs);
  if (t.maxRetries !== undefined) w.u16("maxRetries", t.maxRetries);
  if (t.leaseMs !== undefined) w.u32("leaseMs", t.leaseMs);
  if (t.idempotencyKey !== undefined) w.str("idempotencyKey", t.idempotencyKey);
  w.bytes("payload", t.payload, MAX_PAYLOAD_BYTES);
}

export function readTaskSpec(r: ByteReader): TaskSpec {
  const flags = r.u8("flags");
  if ((flags & ~TASK_SPEC_KNOWN_FLAGS) !== 0) throw r.fail("flags", `unknown flag bits 0x${flags.toString(16)}`);
  const type = r.name("type", MAX_TYPE_BYTES);
  if (type === "") throw r.fail("type", "must not be empty");
  const queue = readQueueName(r, "queue");
  const spec: TaskSpec = { type, queue, payload: EMPTY, payloadIsJson: (flags & TaskSpecFlag.payloadIsJson) !== 0 };
  if ((flags & TaskSpecFlag.hasPriority) !== 0) spec.priority = r.u8("priority");
  if ((flags & TaskSpecFlag.hasRunAt) !== 0) spec.runAtMs = r.u64("runAtMs");
  if ((flags & TaskSpecFlag.hasMaxRetries) !== 0) {
    const maxRetries = r.u16("maxRetries");
    if (maxRetries > MAX_RETRIES_LIMIT) throw r.fail("maxRetries", `${maxRetries} is over the limit of ${MAX_RETRIES_LIMIT}`);
    spec.maxRetries = maxRetries;
  }
  if ((flags & TaskSpecFlag.hasLeaseMs) !== 0) {
    const leaseMs = r.u32("leaseMs");
    if (leaseMs < MIN_LEASE_MS || leaseMs > MAX_LEASE_MS) {
      throw r.fail("leaseMs", `${leaseMs} is outside ${MIN_LEASE_MS}..${MAX_LEASE_MS}`);
    }
    spec.leaseMs = leaseMs;
  }
  if ((flags & TaskSpecFlag.hasIdempotencyKey) !== 0) {
    const key = r.str("idempotencyKey", MAX_IDEMPOTENCY_KEY_BYTES);
    if (key === "") throw r.fail("idempotencyKey", "must not be empty when present");
    spec.idempotencyKey = key;
  }
  spec.payload = r.bytes("payload", MAX_PAYLOAD_BYTES);
  return spec;
}

const EMPTY = new Uint8Array(0);

export function writeLeaseRefs(w: ByteWriter, field: string, leases: readonly LeaseRef[]): void {
  w.u16(field, leases.length);
  for (const lease of leases) {
    w.uuid("id", lease.id);
    w.u32("token", lease.token);
  }
}

export function readLeaseRefs(r: ByteReader, field: string): LeaseRef[] {
  const n = r.count(field, LEASE_REF_BYTES, 0xffff);
  const out: LeaseRef[] = new Array(n);
  r.listName = field;
  for (let i = 0; i < n; i++) {
    r.listIndex = i;
    out[i] = { id: r.uuid("id"), token: r.u32("token") };
  }
  r.listName = null;
  return out;
}

/** One run's result: the body of TaskResult after the request id, and each TaskResultBatch item. */
export function writeTaskResultItem(w: ByteWriter, m: TaskResultItem): void {
  w.uuid("id", m.id);
  w.u32("token", m.token);
  w.u8("outcome", TASK_OUTCOME_BYTE[m.outcome]);
  w.bool("resultIsJson", m.resultIsJson);
  w.bytes("result", m.result, MAX_RESULT_BYTES);
  w.clippedText("error", m.error, MAX_ERROR_BYTES);
}

export function readTaskResultItem(r: ByteReader): TaskResultItem {
  return {
    id: r.uuid("id"),
    token: r.u32("token"),
    outcome: r.pick("outcome", TASK_OUTCOMES),
    resultIsJson: r.bool("resultIsJson"),
    result: r.bytes("result", MAX_RESULT_BYTES),
    error: r.clippedText("error", MAX_ERROR_BYTES),
  };
}

export function writeClaimedTask(w: ByteWriter, t: ClaimedTask): void {
  w.uuid("id", t.id);
  w.u32("token", t.token);
  w.u64("expiresAtMs", t.expiresAtMs);
  w.u16("attempts", t.attempts);
  w.u8("priority", t.priority);
  w.str("queue", t.queue);
  w.str("type", t.type);
  w.bool("payloadIsJson", t.payloadIsJson);
  w.bytes("payload", t.payload, MAX_PAYLOAD_BYTES);
  w.u64("createdAtMs", t.createdAtMs);
  w.u16("maxRetries", t.maxRetries);
}

export function readClaimedTask(r: ByteReader): ClaimedTask {
  return {
    id: r.uuid("id"),
    token: r.u32("token"),
    expiresAtMs: r.u64("expiresAtMs"),
    attempts: r.u16("attempts"),
    priority: r.u8("priority"),
    queue: r.name("queue", MAX_QUEUE_BYTES),
    type: r.name("type", MAX_TYPE_BYTES),
    payloadIsJson: r.bool("payloadIsJson"),
    payload: r.bytes("payload", MAX_PAYLOAD_BYTES),
    createdAtMs: r.u64("createdAtMs"),
    maxRetries: r.u16("maxRetries"),
  };
}

export function writeTaskInfo(w: ByteWriter, t: TaskInfo): void {
  let flags = t.payloadIsJson ? TaskInfoFlag.payloadIsJson : 0;
  if (t.result !== null) flags |= TaskInfoFlag.hasResult;
  if (t.resultIsJson) flags |= TaskInfoFlag.resultIsJson;
  if (t.error !== null) flags |= TaskInfoFlag.hasError;
  if (t.workerId !== null) flags |= TaskInfoFlag.hasWorkerId;
  if (t.idempotencyKey !== null) flags |= TaskInfoFlag.hasIdempotencyKey;
  w.u8("flags", flags);
  w.uuid("id", t.id);
  w.u8("status", TASK_STATUS_BYTE[t.status]);
  w.str("type", t.type);
  w.str("queue", t.queue);
  w.u8("priority", t.priority);
  w.u16("attempts", t.attempts);
  w.u16("maxRetries", t.maxRetries);
  w.u32("leaseMs", t.leaseMs);
  w.u64OrNull("runAtMs", t.runAtMs);
  w.u64("createdAtMs", t.createdAtMs);
  w.u64("updatedAtMs", t.updatedAtMs);
  w.u64OrNull("startedAtMs", t.startedAtMs);
  w.u64OrNull("finishedAtMs", t.finishedAtMs);
  w.u64OrNull("leaseExpiresAtMs", t.leaseExpiresAtMs);
  if (t.workerId !== null) w.str("workerId", t.workerId);
  if (t.idempotencyKey !== null) w.str("idempotencyKey", t.idempotencyKey);
  w.bytes("payload", t.payload, MAX_PAYLOAD_BYTES);
  if (t.result !== null) w.bytes("result", t.result, MAX_RESULT_BYTES);
  if (t.error !== null) w.clippedText("error", t.error, MAX_ERROR_BYTES);
}

export function readTaskInfo(r: ByteReader): TaskInfo {
  const flags = r.u8("flags");
  if ((flags & ~TASK_INFO_KNOWN_FLAGS) !== 0) throw r.fail("flags", `unknown flag bits 0x${flags.toString(16)}`);
  const id = r.uuid("id");
  const status = r.pick("status", WIRE_TASK_STATUSES);
  const type = r.name("type", MAX_STR_BYTES);
  const queue = r.name("queue", MAX_STR_BYTES);
  const priority = r.u8("priority");
  const attempts = r.u16("attempts");
  const maxRetries = r.u16("maxRetries");
  const leaseMs = r.u32("leaseMs");
  const runAtMs = r.u64OrNull("runAtMs");
  const createdAtMs = r.u64("createdAtMs");
  const updatedAtMs = r.u64("updatedAtMs");
  const startedAtMs = r.u64OrNull("startedAtMs");
  const finishedAtMs = r.u64OrNull("finishedAtMs");
  const leaseExpiresAtMs = r.u64OrNull("leaseExpiresAtMs");
  const workerId = (flags & TaskInfoFlag.hasWorkerId) !== 0 ? r.str("workerId", MAX_STR_BYTES) : null;
  const idempotencyKey = (flags & TaskInfoFlag.hasIdempotencyKey) !== 0 ? r.str("idempotencyKey", MAX_STR_BYTES) : null;
  const payload = r.bytes("payload", MAX_PAYLOAD_BYTES);
  const result = (flags & TaskInfoFlag.hasResult) !== 0 ? r.bytes("result", MAX_RESULT_BYTES) : null;
  const error = (flags & TaskInfoFlag.hasError) !== 0 ? r.clippedText("error", MAX_ERROR_BYTES) : null;
  return {
    id,
    status,
    type,
    queue,
    priority,
    attempts,
    maxRetries,
    leaseMs,
    runAtMs,
    createdAtMs,
    updatedAtMs,
    startedAtMs,
    finishedAtMs,
    leaseExpiresAtMs,
    workerId,
    idempotencyKey,
    payloadIsJson: (flags & TaskInfoFlag.payloadIsJson) !== 0,
    payload,
    resultIsJson: (flags & TaskInfoFlag.resultIsJson) !== 0,
    result,
    error,
  };
}
