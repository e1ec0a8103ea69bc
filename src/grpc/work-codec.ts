// Hand-written protobuf encoder for the worker stream's hot messages from the broker
// (tq.v1.Broker/Work's WorkResponse): tasks pushed and report acks. Every other message (started,
// heartbeat acks, cancelled, command, ...) and any value it does not expect goes to proto-loader's
// function, as in submit-codec.ts, whose contract this shares: the bytes are always proto-loader's
// (test/unit/grpc/work-codec.test.ts compares both on random messages). Decoding stays proto-loader's.

import type { MethodDefinition } from "@grpc/proto-loader";
import { FALLBACK, isUint32, isUint64, Out, present, rd, readLengthEnd, readString, readTag, readVarint, skipField, tryRead, utf8Length, varintSize, writeString, writeVarint } from "./proto-wire.ts";
import { TASK_STATUS_NAMES } from "./submit-codec.ts";

type Kind = "string" | "bytes" | "bool" | "uint32" | "uint64" | readonly string[];
/** A message of scalar fields: [field number, name, kind], ascending numbers; an array kind is an enum's names by number. */
type Flat = ReadonlyArray<readonly [number, string, Kind]>;

export const CLAIMED_TASK: Flat = [
  [1, "id", "string"],
  [2, "token", "uint32"],
  [3, "expires_at_ms", "uint64"],
  [4, "attempts", "uint32"],
  [5, "priority", "uint32"],
  [6, "queue", "string"],
  [7, "type", "string"],
  [8, "payload_is_json", "bool"],
  [9, "payload", "bytes"],
  [10, "created_at_ms", "uint64"],
  [11, "max_retries", "uint32"],
  [12, "lease_ms", "uint32"],
];
export const FAIL_OUTCOME: Flat = [
  [1, "status", TASK_STATUS_NAMES],
  [2, "retry_at_ms", "uint64"],
  [3, "attempts", "uint32"],
];
export const ERROR_MESSAGE: Flat = [
  [1, "code", "uint32"],
  [2, "name", "string"],
  [3, "field", "string"],
  [4, "message", "string"],
  [5, "retry_after_ms", "uint32"],
];

type Msg = Record<string, unknown>;

// ---- writing -----------------------------------------------------------------------------------

const out = new Out();

/** Every field the object has (proto-loader writes zero values it was given), in field order. */
function writeFlat(fields: Flat, m: unknown): void {
  if (m === null || typeof m !== "object") throw FALLBACK;
  const o = m as Msg;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    const n = field[0];
    const kind = field[2];
    const v = o[field[1]];
    if (!present(v)) continue;
    switch (kind) {
      case "string":
        if (typeof v !== "string") throw FALLBACK;
        out.string(n, v);
        break;
      case "bytes":
        if (!(v instanceof Uint8Array)) throw FALLBACK;
        out.bytes(n, v);
        break;
      case "bool":
        if (typeof v !== "boolean") throw FALLBACK;
        out.varint(n, v ? 1 : 0);
        break;
      case "uint32":
        if (!isUint32(v)) throw FALLBACK;
        out.varint(n, v);
        break;
      case "uint64":
        if (!isUint64(v)) throw FALLBACK;
        out.varint(n, v);
        break;
      default: {
        const number = typeof v === "string" ? kind.indexOf(v) : -1;
        if (number < 0) throw FALLBACK;
        out.varint(n, number);
      }
    }
  }
}

interface ClaimedTaskMsg {
  id: string;
  token: number;
  expires_at_ms: number;
  attempts: number;
  priority: number;
  queue: string;
  type: string;
  payload_is_json: boolean;
  payload: Uint8Array;
  created_at_ms: number;
  max_retries: number;
  lease_ms: number;
}

/**
 * One ClaimedTask as the broker's deliveries make it (claimedTask in task-messages.ts: every
 * field set, of its type): its size, with the strings' UTF-8 lengths kept in `lengths`; -1 when
 * it is anything else (then writeFlat's general path, or proto-loader, takes the message).
 */
function claimedTaskSize(t: ClaimedTaskMsg, lengths: number[], at: number): number {
  if (
    typeof t !== "object" || t === null ||
    typeof t.id !== "string" || !isUint32(t.token) || !isUint64(t.expires_at_ms) || !isUint32(t.attempts) ||
    !isUint32(t.priority) || typeof t.queue !== "string" || typeof t.type !== "string" ||
    typeof t.payload_is_json !== "boolean" || !(t.payload instanceof Uint8Array) || !isUint64(t.created_at_ms) ||
    !isUint32(t.max_retries) || !isUint32(t.lease_ms)
  ) {
    return -1;
  }
  const id = utf8Length(t.id);
  const queue = utf8Length(t.queue);
  const type = utf8Length(t.type);
  lengths[at] = id;
  lengths[at + 1] = queue;
  lengths[at + 2] = type;
  const payload = t.payload.byteLength;
  return (
    12 + 1 + // one-byte tags of fields 1-12, and the bool's value byte
    varintSize(id) + id + varintSize(t.token) + varintSize(t.expires_at_ms) + varintSize(t.attempts) +
    varintSize(t.priority) + varintSize(queue) + queue + varintSize(type) + type + varintSize(payload) + payload +
    varintSize(t.created_at_ms) + varintSize(t.max_retries) + varintSize(t.lease_ms)
  );
}

/** WorkResponse { tasks: WorkTasks { tasks } } in two passes (sizes, then bytes): the delivery's hot path. */
function encodeTasks(tasks: unknown[]): Buffer {
  const sizes = new Array<number>(tasks.length);
  const lengths = new Array<number>(tasks.length * 3);
  let inner = 0;
  for (let i = 0; i < tasks.length; i++) {
    const size = claimedTaskSize(tasks[i] as ClaimedTaskMsg, lengths, i * 3);
    if (size < 0) return encodeTasksGeneral(tasks);
    sizes[i] = size;
    inner += 1 + varintSize(size) + size;
  }
  const bytes = Buffer.allocUnsafe(1 + varintSize(inner) + inner);
  bytes[0] = 0x12;
  let at = writeVarint(bytes, 1, inner);
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i] as ClaimedTaskMsg;
    bytes[at++] = 0x0a;
    at = writeVarint(bytes, at, sizes[i]!);
    const id = lengths[i * 3]!;
    const queue = lengths[i * 3 + 1]!;
    const type = lengths[i * 3 + 2]!;
    bytes[at++] = 0x0a;
    at = writeString(bytes, writeVarint(bytes, at, id), t.id, id);
    bytes[at++] = 0x10;
    at = writeVarint(bytes, at, t.token);
    bytes[at++] = 0x18;
    at = writeVarint(bytes, at, t.expires_at_ms);
    bytes[at++] = 0x20;
    at = writeVarint(bytes, at, t.attempts);
    bytes[at++] = 0x28;
    at = writeVarint(bytes, at, t.priority);
    bytes[at++] = 0x32;
    at = writeString(bytes, writeVarint(bytes, at, queue), t.queue, queue);
    bytes[at++] = 0x3a;
    at = writeString(bytes, writeVarint(bytes, at, type), t.type, type);
    bytes[at++] = 0x40;
    bytes[at++] = t.payload_is_json ? 1 : 0;
    bytes[at++] = 0x4a;
    at = writeVarint(bytes, at, t.payload.byteLength);
    bytes.set(t.payload, at);
    at += t.payload.byteLength;
    bytes[at++] = 0x50;
    at = writeVarint(bytes, at, t.created_at_ms);
    bytes[at++] = 0x58;
    at = writeVarint(bytes, at, t.max_retries);
    bytes[at++] = 0x60;
    at = writeVarint(bytes, at, t.lease_ms);
  }
  return bytes;
}

/** Tasks of any other shape (some fields absent): field by field, as proto-loader writes them. */
function encodeTasksGeneral(tasks: unknown[]): Buffer {
  const mark = out.open(2);
  for (const t of tasks) {
    const m = out.open(1);
    writeFlat(CLAIMED_TASK, t);
    out.close(m);
  }
  out.close(mark);
  return out.take();
}

/** The one oneof member of `m` present among `names` (others absent), else null. */
function onlyMember(m: unknown, names: readonly string[]): string | null {
  if (m === null || typeof m !== "object" || Array.isArray(m)) return null;
  let found: string | null = null;
  for (const name of names) {
    if (!present((m as Msg)[name])) continue;
    if (found !== null) return null;
    found = name;
  }
  return found;
}

const RESPONSE_MEMBERS = ["started", "tasks", "report_ack", "heartbeat_ack", "nack_ack", "cancelled", "command"];

function writeReportAck(ack: unknown): void {
  if (ack === null || typeof ack !== "object") throw FALLBACK;
  const a = ack as Msg;
  if (present(a.ref)) {
    if (!isUint64(a.ref)) throw FALLBACK;
    out.varint(1, a.ref);
  }
  if (present(a.entries)) {
    if (!Array.isArray(a.entries)) throw FALLBACK;
    for (const e of a.entries) {
      if (e === null || typeof e !== "object") throw FALLBACK;
      const entry = e as Msg;
      const mark = out.open(2);
      if (present(entry.ok)) {
        if (typeof entry.ok !== "object" || Object.keys(entry.ok as object).length > 0) throw FALLBACK;
        out.close(out.open(1));
      }
      if (present(entry.fail)) {
        const m = out.open(2);
        writeFlat(FAIL_OUTCOME, entry.fail);
        out.close(m);
      }
      if (present(entry.error)) {
        const m = out.open(3);
        writeFlat(ERROR_MESSAGE, entry.error);
        out.close(m);
      }
      out.close(mark);
    }
  }
  if (present(a.error)) {
    const m = out.open(3);
    writeFlat(ERROR_MESSAGE, a.error);
    out.close(m);
  }
}

/** WorkResponse `tasks` or `report_ack` as proto-loader writes it; null = another message, proto-loader's. */
function tryEncodeWorkResponse(value: unknown): Buffer | null {
  const member = onlyMember(value, RESPONSE_MEMBERS);
  if (member !== "tasks" && member !== "report_ack") return null;
  try {
    if (member === "tasks") {
      const holder = (value as Msg).tasks;
      if (holder === null || typeof holder !== "object") throw FALLBACK;
      const tasks = (holder as Msg).tasks;
      if (!present(tasks)) return Buffer.from([0x12, 0x00]);
      if (!Array.isArray(tasks)) throw FALLBACK;
      return encodeTasks(tasks);
    } else {
      const mark = out.open(3);
      writeReportAck((value as Msg).report_ack);
      out.close(mark);
    }
    return out.take();
  } catch (err) {
    out.reset();
    if (err === FALLBACK) return null;
    throw err;
  }
}

// ---- reading reports ---------------------------------------------------------------------------

const OUTCOME_NAMES: readonly string[] = ["OUTCOME_UNSPECIFIED", "OUTCOME_COMPLETED", "OUTCOME_FAILED", "OUTCOME_UNRECOVERABLE"];
const NO_BYTES = Buffer.alloc(0);

/** One TaskResult (id 1, token 2, outcome 3, result 4, result_is_json 5, error 6) as proto-loader's object. */
function readTaskResult(end: number): Msg {
  let id = "";
  let token = 0;
  let outcome = 0;
  let result: Buffer = NO_BYTES;
  let resultIsJson = false;
  let error = "";
  while (rd.pos < end) {
    const tag = readTag(end);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field > 6) {
      skipField(wire, end);
      continue;
    }
    const lengthDelimited = field === 1 || field === 4 || field === 6;
    if (wire !== (lengthDelimited ? 2 : 0)) throw FALLBACK;
    if (lengthDelimited) {
      const stop = readLengthEnd(end);
      if (field === 4) result = rd.buf.subarray(rd.pos, stop);
      else if (field === 1) id = readString(rd.pos, stop);
      else error = readString(rd.pos, stop);
      rd.pos = stop;
      continue;
    }
    const lo = readVarint(end);
    if (field === 2) token = lo;
    else if (field === 5) resultIsJson = lo !== 0;
    else {
      // An outcome number the .proto lacks: proto-loader gives it as a number; its path.
      if (lo >= OUTCOME_NAMES.length) throw FALLBACK;
      outcome = lo;
    }
  }
  return { id, token, outcome: OUTCOME_NAMES[outcome], result, result_is_json: resultIsJson, error };
}

/** WorkRequest bytes holding a `report` (field 2) and no other member, as proto-loader's object; null = its case. */
function tryDecodeWorkRequest(bytes: Buffer): Msg | null {
  return tryRead(bytes, (end) => {
    let report: Msg | null = null;
    while (rd.pos < end) {
      const tag = readTag(end);
      const field = tag >>> 3;
      if (field > 5) {
        skipField(tag & 7, end);
        continue;
      }
      // Another member (start, heartbeat, nack, credits), or a second report: proto-loader's.
      if (field !== 2 || (tag & 7) !== 2 || report !== null) throw FALLBACK;
      const stop = readLengthEnd(end);
      const results: Msg[] = [];
      let ref = 0;
      while (rd.pos < stop) {
        const t = readTag(stop);
        const n = t >>> 3;
        if (n === 2) {
          if ((t & 7) !== 2) throw FALLBACK;
          results.push(readTaskResult(readLengthEnd(stop)));
        } else if (n === 1) {
          if ((t & 7) !== 0) throw FALLBACK;
          const lo = readVarint(stop, true);
          ref = lo + rd.hi * 4294967296;
        } else skipField(t & 7, stop);
      }
      report = { results, ref };
    }
    if (report === null) throw FALLBACK;
    return { report, kind: "report" };
  });
}

/** The fast paths alone (null where proto-loader's function would be asked), for the codec's tests. */
export const WORK_FAST_PATHS = { encodeResponse: tryEncodeWorkResponse, decodeRequest: tryDecodeWorkRequest };

/**
 * Work's method definition with the broker's encoder of WorkResponse on the fast path, falling
 * back on proto-loader's; decoding (reports, deliveries on the client) stays proto-loader's: a
 * table-driven reader for them showed no gain in bench/grpc-codecs.ts.
 */
export function fastWorkMethod(method: MethodDefinition<unknown, unknown>): MethodDefinition<unknown, unknown> {
  return {
    ...method,
    responseSerialize: (value: unknown) => tryEncodeWorkResponse(value) ?? method.responseSerialize(value),
    requestDeserialize: (bytes: Buffer) => tryDecodeWorkRequest(bytes) ?? method.requestDeserialize(bytes),
  };
}
