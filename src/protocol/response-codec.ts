// Byte layouts of every response (broker -> client): the body writers the server uses and
// decodeResponse the client uses. The body is `requestId u32` (echoed) then the fields listed
// in docs/PROTOCOL.md. Decoding throws only ProtocolError (InvalidField, UnknownMessageType).

import { ByteReader } from "./byte-reader.ts";
import type { ByteWriter } from "./byte-writer.ts";
import { ErrorCode } from "./errors.ts";
import { MAX_FRAME_BYTES, MAX_STR_BYTES } from "./limits.ts";
import type { ClaimedTask, ErrorResponse, FailOutcomeResponse, ResultEntry, Response, ResponseOf, SubmitOutcomeWire, TaskInfo } from "./messages.ts";
import { messageTypeName, responseKindOf, type ResponseKind } from "./message-types.ts";
import { ProtocolError } from "./protocol-error.ts";
import {
  MIN_CLAIMED_TASK_BYTES,
  MIN_TASK_INFO_BYTES,
  readClaimedTask,
  readTaskInfo,
  writeClaimedTask,
  writeTaskInfo,
} from "./task-codecs.ts";
import {
  FAIL_STATUSES,
  RESULT_ENTRY_BYTE,
  RESULT_ENTRY_KINDS,
  TASK_STATUS_BYTE,
  WIRE_TASK_STATUSES,
  WORKER_COMMAND_BYTE,
  WORKER_COMMANDS,
  type FailStatus,
} from "./wire-values.ts";

type BodyWriters = { [K in ResponseKind]: (w: ByteWriter, m: ResponseOf<K>) => void };
type BodyReaders = { [K in ResponseKind]: (r: ByteReader, requestId: number) => ResponseOf<K> };

const SUBMIT_OUTCOME_BYTES = 16 + 1 + 1;
/** The smallest ResultBatchOutcome entry: an "ok" tag alone. */
const MIN_RESULT_ENTRY_BYTES = 1;

type FailFields = Pick<FailOutcomeResponse, "status" | "retryAtMs" | "attempts">;
type ErrorFields = Pick<ErrorResponse, "code" | "retryAfterMs" | "field" | "message">;

// FailOutcome's and Error's fields, shared with the entries of ResultBatchOutcome so that one
// outcome has one layout wherever it travels.
function writeFailFields(w: ByteWriter, m: FailFields): void {
  w.u8("status", TASK_STATUS_BYTE[m.status]);
  w.u64OrNull("retryAtMs", m.retryAtMs);
  w.u16("attempts", m.attempts);
}

function readFailFields(r: ByteReader): FailFields {
  const status = WIRE_TASK_STATUSES[r.u8("status")];
  if (status !== "failed" && status !== "dead") throw r.fail("status", `must be one of ${FAIL_STATUSES.join(", ")}, got ${String(status)}`);
  return { status: status satisfies FailStatus, retryAtMs: r.u64OrNull("retryAtMs"), attempts: r.u16("attempts") };
}

function writeErrorFields(w: ByteWriter, m: ErrorFields): void {
  w.u16("code", m.code);
  w.u32("retryAfterMs", m.retryAfterMs);
  w.str("field", m.field);
  w.str("message", m.message);
}

function readErrorFields(r: ByteReader): ErrorFields {
  return { code: r.u16("code"), retryAfterMs: r.u32("retryAfterMs"), field: r.str("field", MAX_STR_BYTES), message: r.str("message", MAX_STR_BYTES) };
}

function writeResultEntry(w: ByteWriter, e: ResultEntry): void {
  w.u8("entry", RESULT_ENTRY_BYTE[e.entry]);
  if (e.entry === "fail") writeFailFields(w, e);
  else if (e.entry === "error") writeErrorFields(w, e);
}

function readResultEntry(r: ByteReader): ResultEntry {
  const entry = r.pick("entry", RESULT_ENTRY_KINDS);
  if (entry === "ok") return { entry };
  if (entry === "fail") return { entry, ...readFailFields(r) };
  return { entry, ...readErrorFields(r) };
}

function writeExpiries(w: ByteWriter, field: string, expiries: readonly (number | null)[]): void {
  w.u16(field, expiries.length);
  for (const e of expiries) w.u64OrNull(field, e);
}

function readExpiries(r: ByteReader, field: string): (number | null)[] {
  const n = r.count(field, 8, 0xffff);
  const out: (number | null)[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = r.u64OrNull(field);
  return out;
}

const WRITERS: BodyWriters = {
  Ack() {},
  HelloOk(w, m) {
    w.u16("version", m.version);
    w.str("serverVersion", m.serverVersion);
    w.u32("maxFrameBytes", m.maxFrameBytes);
    w.u16("maxBatchClaim", m.maxBatchClaim);
    w.u32("heartbeatIntervalMs", m.heartbeatIntervalMs);
    w.u32("defaultLeaseMs", m.defaultLeaseMs);
  },
  Submitted(w, m) {
    w.uuid("id", m.id);
    w.u8("status", TASK_STATUS_BYTE[m.status]);
    w.bool("duplicate", m.duplicate);
  },
  SubmittedBatch(w, m) {
    w.u16("outcomes", m.outcomes.length);
    for (const o of m.outcomes) {
      w.uuid("id", o.id);
      w.u8("status", TASK_STATUS_BYTE[o.status]);
      w.bool("duplicate", o.duplicate);
    }
  },
  Claimed(w, m) {
    w.u16("tasks", m.tasks.length);
    for (const t of m.tasks) writeClaimedTask(w, t);
  },
  FailOutcome(w, m) {
    writeFailFields(w, m);
  },
  Renewed(w, m) {
    writeExpiries(w, "expiresAtMs", m.expiresAtMs);
  },
  HeartbeatOk(w, m) {
    w.u8("command", WORKER_COMMAND_BYTE[m.command]);
    writeExpiries(w, "renewed", m.renewed);
  },
  Registered(w, m) {
    w.u32("heartbeatIntervalMs", m.heartbeatIntervalMs);
  },
  TaskInfo(w, m) {
    writeTaskInfo(w, m.task);
  },
  TaskList(w, m) {
    w.u16("tasks", m.tasks.length);
    for (const t of m.tasks) writeTaskInfo(w, t);
    w.str("nextCursor", m.nextCursor ?? "");
  },
  Stats(w, m) {
    w.text("json", m.json, MAX_FRAME_BYTES);
  },
  Workers(w, m) {
    w.text("json", m.json, MAX_FRAME_BYTES);
  },
  Pong() {},
  TaskCancelled(w, m) {
    w.uuid("id", m.id);
    w.u32("token", m.token);
  },
  Delivery(w, m) {
    w.u32("subscriptionId", m.subscriptionId);
    w.u16("tasks", m.tasks.length);
    for (const t of m.tasks) writeClaimedTask(w, t);
  },
  ResultBatchOutcome(w, m) {
    w.u16("entries", m.entries.length);
    for (const e of m.entries) writeResultEntry(w, e);
  },
  Error(w, m) {
    writeErrorFields(w, m);
  },
};

const READERS: BodyReaders = {
  Ack(_r, requestId) {
    return { kind: "Ack", requestId };
  },
  HelloOk(r, requestId) {
    return {
      kind: "HelloOk",
      requestId,
      version: r.u16("version"),
      serverVersion: r.str("serverVersion", MAX_STR_BYTES),
      maxFrameBytes: r.u32("maxFrameBytes"),
      maxBatchClaim: r.u16("maxBatchClaim"),
      heartbeatIntervalMs: r.u32("heartbeatIntervalMs"),
      defaultLeaseMs: r.u32("defaultLeaseMs"),
    };
  },
  Submitted(r, requestId) {
    return { kind: "Submitted", requestId, id: r.uuid("id"), status: r.pick("status", WIRE_TASK_STATUSES), duplicate: r.bool("duplicate") };
  },
  SubmittedBatch(r, requestId) {
    const outcomes: SubmitOutcomeWire[] = r.list("outcomes", SUBMIT_OUTCOME_BYTES, 0xffff, (item) => ({
      id: item.uuid("id"),
      status: item.pick("status", WIRE_TASK_STATUSES),
      duplicate: item.bool("duplicate"),
    }));
    return { kind: "SubmittedBatch", requestId, outcomes };
  },
  Claimed(r, requestId) {
    const tasks: ClaimedTask[] = r.list("tasks", MIN_CLAIMED_TASK_BYTES, 0xffff, readClaimedTask);
    return { kind: "Claimed", requestId, tasks };
  },
  FailOutcome(r, requestId) {
    return { kind: "FailOutcome", requestId, ...readFailFields(r) };
  },
  Renewed(r, requestId) {
    return { kind: "Renewed", requestId, expiresAtMs: readExpiries(r, "expiresAtMs") };
  },
  HeartbeatOk(r, requestId) {
    const command = r.pick("command", WORKER_COMMANDS);
    return { kind: "HeartbeatOk", requestId, command, renewed: readExpiries(r, "renewed") };
  },
  Registered(r, requestId) {
    return { kind: "Registered", requestId, heartbeatIntervalMs: r.u32("heartbeatIntervalMs") };
  },
  TaskInfo(r, requestId) {
    return { kind: "TaskInfo", requestId, task: readTaskInfo(r) };
  },
  TaskList(r, requestId) {
    const tasks: TaskInfo[] = r.list("tasks", MIN_TASK_INFO_BYTES, 0xffff, readTaskInfo);
    const cursor = r.str("nextCursor", MAX_STR_BYTES);
    return { kind: "TaskList", requestId, tasks, nextCursor: cursor === "" ? null : cursor };
  },
  Stats(r, requestId) {
    return { kind: "Stats", requestId, json: r.text("json", MAX_FRAME_BYTES) };
  },
  Workers(r, requestId) {
    return { kind: "Workers", requestId, json: r.text("json", MAX_FRAME_BYTES) };
  },
  Pong(_r, requestId) {
    return { kind: "Pong", requestId };
  },
  TaskCancelled(r, requestId) {
    return { kind: "TaskCancelled", requestId, id: r.uuid("id"), token: r.u32("token") };
  },
  Delivery(r, requestId) {
    const subscriptionId = r.u32("subscriptionId");
    const tasks: ClaimedTask[] = r.list("tasks", MIN_CLAIMED_TASK_BYTES, 0xffff, readClaimedTask);
    if (tasks.length === 0) throw r.fail("tasks", "a delivery carries at least one task");
    return { kind: "Delivery", requestId, subscriptionId, tasks };
  },
  ResultBatchOutcome(r, requestId) {
    const entries: ResultEntry[] = r.list("entries", MIN_RESULT_ENTRY_BYTES, 0xffff, readResultEntry);
    return { kind: "ResultBatchOutcome", requestId, entries };
  },
  Error(r, requestId) {
    return { kind: "Error", requestId, ...readErrorFields(r) };
  },
};

/** Writes the body of a response (request id first) at the writer's position. */
export function writeResponseBody(w: ByteWriter, m: Response): void {
  w.u32("requestId", m.requestId);
  (WRITERS[m.kind] as (w: ByteWriter, m: Response) => void)(w, m);
}

/**
 * Decodes one response frame's body. The result owns its bytes, so `body` may be reused
 * afterwards. Throws ProtocolError carrying the request id when it could be read.
 */
export function decodeResponse(type: number, body: Uint8Array): Response {
  const r = new ByteReader(body);
  const kind = responseKindOf(type);
  if (body.length >= 4) r.requestId = r.u32("requestId");
  if (kind === undefined) {
    throw new ProtocolError(ErrorCode.UnknownMessageType, `message type ${messageTypeName(type)} is not a response`, r.requestId);
  }
  if (r.requestId === null) r.u32("requestId");
  const m = (READERS[kind] as (r: ByteReader, requestId: number) => Response)(r, r.requestId as number);
  r.end();
  return m;
}
