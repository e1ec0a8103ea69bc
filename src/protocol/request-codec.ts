// Byte layouts of every request (client -> broker): the body writers the client uses and
// decodeRequest the server uses. The body is `requestId u32` then the fields listed in
// docs/PROTOCOL.md. Decoding throws only ProtocolError (InvalidField, UnknownMessageType).

import { ByteReader } from "./byte-reader.ts";
import type { ByteWriter } from "./byte-writer.ts";
import { ErrorCode } from "./errors.ts";
import {
  KNOWN_NOTICES,
  MAX_BATCH_SUBMIT,
  MAX_CLAIM_QUEUES,
  MAX_CLAIM_WAIT_MS,
  MAX_LABEL_BYTES,
  MAX_LIST_LIMIT,
  MAX_RESULT_BATCH,
  MAX_STR_BYTES,
  MAX_SUBSCRIBE_CREDITS,
  MAX_TYPE_BYTES,
  MAX_QUEUE_BYTES,
  MAX_WORKER_LABELS,
} from "./limits.ts";
import type { Request, RequestOf, TaskResultItem, TaskSpec, WorkerLabel } from "./messages.ts";
import { messageTypeName, requestKindOf, type RequestKind } from "./message-types.ts";
import { ProtocolError } from "./protocol-error.ts";
import {
  DEFAULT_QUEUE,
  MIN_TASK_RESULT_BYTES,
  MIN_TASK_SPEC_BYTES,
  readLeaseRefs,
  readQueueName,
  readTaskResultItem,
  readTaskSpec,
  readWorkerId,
  writeLeaseRefs,
  writeTaskResultItem,
  writeTaskSpec,
} from "./task-codecs.ts";
import { TASK_STATUS_BYTE, WIRE_TASK_STATUSES } from "./wire-values.ts";

export const ListTasksFlag = { hasStatus: 0x01, hasQueue: 0x02, hasType: 0x04, hasCursor: 0x08, newestFirst: 0x10 } as const;
const LIST_TASKS_KNOWN_FLAGS = 0x1f;

type BodyWriters = { [K in RequestKind]: (w: ByteWriter, m: RequestOf<K>) => void };
type BodyReaders = { [K in RequestKind]: (r: ByteReader, requestId: number) => RequestOf<K> };

function writeStrList(w: ByteWriter, field: string, items: readonly string[]): void {
  w.u16(field, items.length);
  for (const item of items) w.str(field, item);
}

function readQueueList(r: ByteReader, field: string): string[] {
  const n = r.count(field, 2, MAX_CLAIM_QUEUES);
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = readQueueName(r, `${field}[${i}]`);
  return n === 0 ? [DEFAULT_QUEUE] : out;
}

function readWaitMs(r: ByteReader): number {
  const waitMs = r.u32("waitMs");
  if (waitMs > MAX_CLAIM_WAIT_MS) throw r.fail("waitMs", `${waitMs} is over the limit of ${MAX_CLAIM_WAIT_MS}`);
  return waitMs;
}

const WRITERS: BodyWriters = {
  Hello(w, m) {
    w.u16("version", m.version);
    w.str("apiKey", m.apiKey);
    w.str("clientName", m.clientName);
  },
  SubmitTask(w, m) {
    writeTaskSpec(w, m.task);
  },
  SubmitBatch(w, m) {
    w.u16("tasks", m.tasks.length);
    for (const task of m.tasks) writeTaskSpec(w, task);
  },
  ClaimTask(w, m) {
    writeStrList(w, "queues", m.queues);
    w.u16("max", m.max);
    w.u32("waitMs", m.waitMs);
  },
  TaskResult(w, m) {
    writeTaskResultItem(w, m);
  },
  TaskResultBatch(w, m) {
    w.u16("results", m.results.length);
    for (const item of m.results) writeTaskResultItem(w, item);
  },
  Nack(w, m) {
    writeLeaseRefs(w, "leases", m.leases);
  },
  RenewLease(w, m) {
    writeLeaseRefs(w, "leases", m.leases);
  },
  Heartbeat(w, m) {
    w.str("workerId", m.workerId);
    w.f32("cpuPercent", m.cpuPercent);
    w.u32("memoryMb", m.memoryMb);
    writeLeaseRefs(w, "inFlight", m.inFlight);
  },
  RegisterWorker(w, m) {
    w.str("workerId", m.workerId);
    w.str("hostname", m.hostname);
    w.u32("pid", m.pid);
    writeStrList(w, "queues", m.queues);
    w.u16("concurrency", m.concurrency);
    w.str("version", m.version);
    w.u16("labels", m.labels.length);
    for (const label of m.labels) {
      w.str("labels.key", label.key);
      w.str("labels.value", label.value);
    }
  },
  DeregisterWorker(w, m) {
    w.str("workerId", m.workerId);
  },
  QueryStatus(w, m) {
    w.uuid("id", m.id);
  },
  WaitResult(w, m) {
    w.uuid("id", m.id);
    w.u32("waitMs", m.waitMs);
  },
  CancelTask(w, m) {
    w.uuid("id", m.id);
  },
  RetryTask(w, m) {
    w.uuid("id", m.id);
  },
  ListTasks(w, m) {
    let flags = 0;
    if (m.status !== undefined) flags |= ListTasksFlag.hasStatus;
    if (m.queue !== undefined) flags |= ListTasksFlag.hasQueue;
    if (m.type !== undefined) flags |= ListTasksFlag.hasType;
    if (m.cursor !== undefined) flags |= ListTasksFlag.hasCursor;
    if (m.order === "newest") flags |= ListTasksFlag.newestFirst;
    w.u8("flags", flags);
    if (m.status !== undefined) w.u8("status", TASK_STATUS_BYTE[m.status]);
    if (m.queue !== undefined) w.str("queue", m.queue);
    if (m.type !== undefined) w.str("type", m.type);
    w.u16("limit", m.limit);
    if (m.cursor !== undefined) w.str("cursor", m.cursor);
  },
  GetStats() {},
  ListWorkers() {},
  Ping() {},
  EnableNotices(w, m) {
    w.u8("notices", m.notices);
  },
  Subscribe(w, m) {
    w.u32("subscriptionId", m.subscriptionId);
    writeStrList(w, "queues", m.queues);
    w.u16("credits", m.credits);
  },
  Unsubscribe(w, m) {
    w.u32("subscriptionId", m.subscriptionId);
  },
};

const READERS: BodyReaders = {
  Hello(r, requestId) {
    return { kind: "Hello", requestId, version: r.u16("version"), apiKey: r.str("apiKey", MAX_STR_BYTES), clientName: r.str("clientName", MAX_STR_BYTES) };
  },
  SubmitTask(r, requestId) {
    return { kind: "SubmitTask", requestId, task: readTaskSpec(r) };
  },
  SubmitBatch(r, requestId) {
    const tasks: TaskSpec[] = r.list("tasks", MIN_TASK_SPEC_BYTES, MAX_BATCH_SUBMIT, readTaskSpec);
    if (tasks.length === 0) throw r.fail("tasks", "a batch needs at least one task");
    return { kind: "SubmitBatch", requestId, tasks };
  },
  ClaimTask(r, requestId) {
    const queues = readQueueList(r, "queues");
    const max = r.u16("max");
    if (max === 0) throw r.fail("max", "must be at least 1");
    return { kind: "ClaimTask", requestId, queues, max, waitMs: readWaitMs(r) };
  },
  TaskResult(r, requestId) {
    return { kind: "TaskResult", requestId, ...readTaskResultItem(r) };
  },
  TaskResultBatch(r, requestId) {
    const results: TaskResultItem[] = r.list("results", MIN_TASK_RESULT_BYTES, MAX_RESULT_BATCH, readTaskResultItem);
    if (results.length === 0) throw r.fail("results", "a batch needs at least one result");
    return { kind: "TaskResultBatch", requestId, results };
  },
  Nack(r, requestId) {
    return { kind: "Nack", requestId, leases: readLeaseRefs(r, "leases") };
  },
  RenewLease(r, requestId) {
    return { kind: "RenewLease", requestId, leases: readLeaseRefs(r, "leases") };
  },
  Heartbeat(r, requestId) {
    const workerId = readWorkerId(r, "workerId");
    const cpuPercent = r.f32("cpuPercent");
    if (!(cpuPercent >= 0 && cpuPercent <= 1e6)) throw r.fail("cpuPercent", `${cpuPercent} is not a percentage`);
    const memoryMb = r.u32("memoryMb");
    return { kind: "Heartbeat", requestId, workerId, cpuPercent, memoryMb, inFlight: readLeaseRefs(r, "inFlight") };
  },
  RegisterWorker(r, requestId) {
    const workerId = readWorkerId(r, "workerId");
    const hostname = r.str("hostname", MAX_STR_BYTES);
    const pid = r.u32("pid");
    const queues = readQueueList(r, "queues");
    const concurrency = r.u16("concurrency");
    if (concurrency === 0) throw r.fail("concurrency", "must be at least 1");
    const version = r.str("version", MAX_STR_BYTES);
    const labels: WorkerLabel[] = r.list("labels", 4, MAX_WORKER_LABELS, (item) => ({
      key: item.str("key", MAX_LABEL_BYTES),
      value: item.str("value", MAX_LABEL_BYTES),
    }));
    return { kind: "RegisterWorker", requestId, workerId, hostname, pid, queues, concurrency, version, labels };
  },
  DeregisterWorker(r, requestId) {
    return { kind: "DeregisterWorker", requestId, workerId: readWorkerId(r, "workerId") };
  },
  QueryStatus(r, requestId) {
    return { kind: "QueryStatus", requestId, id: r.uuid("id") };
  },
  WaitResult(r, requestId) {
    return { kind: "WaitResult", requestId, id: r.uuid("id"), waitMs: readWaitMs(r) };
  },
  CancelTask(r, requestId) {
    return { kind: "CancelTask", requestId, id: r.uuid("id") };
  },
  RetryTask(r, requestId) {
    return { kind: "RetryTask", requestId, id: r.uuid("id") };
  },
  ListTasks(r, requestId) {
    const flags = r.u8("flags");
    if ((flags & ~LIST_TASKS_KNOWN_FLAGS) !== 0) throw r.fail("flags", `unknown flag bits 0x${flags.toString(16)}`);
    const m: RequestOf<"ListTasks"> = { kind: "ListTasks", requestId, limit: 0 };
    if ((flags & ListTasksFlag.hasStatus) !== 0) m.status = r.pick("status", WIRE_TASK_STATUSES);
    if ((flags & ListTasksFlag.hasQueue) !== 0) m.queue = readQueueName(r, "queue");
    if ((flags & ListTasksFlag.hasType) !== 0) m.type = r.str("type", MAX_TYPE_BYTES);
    m.limit = r.u16("limit");
    if (m.limit === 0 || m.limit > MAX_LIST_LIMIT) throw r.fail("limit", `${m.limit} is outside 1..${MAX_LIST_LIMIT}`);
    if ((flags & ListTasksFlag.hasCursor) !== 0) m.cursor = r.str("cursor", MAX_QUEUE_BYTES + MAX_TYPE_BYTES);
    if ((flags & ListTasksFlag.newestFirst) !== 0) m.order = "newest";
    return m;
  },
  GetStats(_r, requestId) {
    return { kind: "GetStats", requestId };
  },
  ListWorkers(_r, requestId) {
    return { kind: "ListWorkers", requestId };
  },
  Ping(_r, requestId) {
    return { kind: "Ping", requestId };
  },
  EnableNotices(r, requestId) {
    const notices = r.u8("notices");
    if ((notices & ~KNOWN_NOTICES) !== 0) throw r.fail("notices", `unknown notice bits 0x${notices.toString(16)}`);
    return { kind: "EnableNotices", requestId, notices };
  },
  Subscribe(r, requestId) {
    const subscriptionId = r.u32("subscriptionId");
    const queues = readQueueList(r, "queues");
    const credits = r.u16("credits");
    if (credits === 0 || credits > MAX_SUBSCRIBE_CREDITS) throw r.fail("credits", `${credits} is outside 1..${MAX_SUBSCRIBE_CREDITS}`);
    return { kind: "Subscribe", requestId, subscriptionId, queues, credits };
  },
  Unsubscribe(r, requestId) {
    return { kind: "Unsubscribe", requestId, subscriptionId: r.u32("subscriptionId") };
  },
};

/** Writes the body of a request (request id first) at the writer's position. */
export function writeRequestBody(w: ByteWriter, m: Request): void {
  w.u32("requestId", m.requestId);
  (WRITERS[m.kind] as (w: ByteWriter, m: Request) => void)(w, m);
}

/**
 * Decodes one request frame's body. The result owns its bytes (payloads are copied), so `body`
 * may be reused afterwards. Throws ProtocolError carrying the request id when it could be read.
 */
export function decodeRequest(type: number, body: Uint8Array): Request {
  const r = new ByteReader(body);
  const kind = requestKindOf(type);
  if (body.length >= 4) r.requestId = r.u32("requestId");
  if (kind === undefined) {
    throw new ProtocolError(ErrorCode.UnknownMessageType, `message type ${messageTypeName(type)} is not a request`, r.requestId);
  }
  if (r.requestId === null) r.u32("requestId");
  const m = (READERS[kind] as (r: ByteReader, requestId: number) => Request)(r, r.requestId as number);
  r.end();
  return m;
}
