// Hand-written protobuf codec for the hot path of batch submits: SubmitBatchRequest (decoded by the
// server, encoded by clients such as `bench --front grpc`) and SubmitBatchResponse (the reverse).
// proto-loader's reflection decoder builds a message object per task and then converts it to a
// plain object with defaults; here the wire is read once straight into the plain object grpc-js
// handlers get from proto-loader (LOADER_OPTIONS), and outcomes are written straight to bytes.
//
// The contract: for every input, the result is the one proto-loader's functions give
// (test/unit/grpc/submit-codec.test.ts compares both on random messages and random bytes). The
// fast path takes the encodings protobuf writers produce (any field order, repeats, unknown
// fields of every wire type but groups); anything else — a known field with an unexpected wire
// type, both members of a oneof, an enum number outside the .proto, truncated or malformed
// bytes, a value the encoder does not expect — is handed to proto-loader's function as it is, so
// its answer (or its error) is the one given. proto-loader keeps serving every other method.

import type { MethodDefinition } from "@grpc/proto-loader";
import type { TaskSpecMsg } from "./task-messages.ts";
import { cachedString, FALLBACK, isUint32, isUint64, present, QUEUE_SLOT, rd, readLengthEnd, readRepeatedField1, readString, readTag, readVarint, skipField, TYPE_SLOT, tryRead, utf8Length, varintSize, writeString, writeVarint } from "./proto-wire.ts";


// ---- enums (test/unit/grpc/submit-codec.test.ts checks them against the .proto) ------------------

export const TIER_NAMES: readonly string[] = ["TIER_UNSPECIFIED", "TIER_HIGH", "TIER_NORMAL", "TIER_LOW"];
export const TASK_STATUS_NAMES: readonly string[] = [
  "TASK_STATUS_UNSPECIFIED",
  "TASK_STATUS_PENDING",
  "TASK_STATUS_SCHEDULED",
  "TASK_STATUS_IN_PROGRESS",
  "TASK_STATUS_COMPLETED",
  "TASK_STATUS_FAILED",
  "TASK_STATUS_DEAD",
  "TASK_STATUS_CANCELLED",
];
const TIER_NUMBER = new Map(TIER_NAMES.map((name, i) => [name, i]));
const TASK_STATUS_NUMBER = new Map(TASK_STATUS_NAMES.map((name, i) => [name, i]));

function readTaskSpec(end: number): TaskSpecMsg {
  let type = "";
  let queue = "";
  let payload: Buffer | null = null;
  let payloadIsJson = false;
  let idempotencyKey = "";
  let priority = -1;
  let tier = -1;
  let runAtMs = -1;
  let delayMs = -1;
  let maxRetries = -1;
  let leaseMs = -1;
  while (rd.pos < end) {
    const tag = readTag(end);
    const wire = tag & 7;
    const field = tag >>> 3;
    if (field > 11) {
      skipField(wire, end);
      continue;
    }
    // Fields 1, 2, 3 and 11 are length-delimited, the others varints.
    const lengthDelimited = field <= 3 || field === 11;
    if (wire !== (lengthDelimited ? 2 : 0)) throw FALLBACK;
    if (lengthDelimited) {
      const stop = readLengthEnd(end);
      if (field === 3) payload = rd.buf.subarray(rd.pos, stop);
      else if (field === 1) type = cachedString(TYPE_SLOT, rd.pos, stop);
      else if (field === 2) queue = cachedString(QUEUE_SLOT, rd.pos, stop);
      else idempotencyKey = readString(rd.pos, stop);
      rd.pos = stop;
      continue;
    }
    const lo = readVarint(end, field === 7 || field === 8);
    switch (field) {
      case 4:
        payloadIsJson = lo !== 0;
        break;
      case 5:
        priority = lo;
        break;
      case 6:
        // proto-loader gives an enum number outside the .proto as a number: its path, not this one.
        if (lo >= TIER_NAMES.length) throw FALLBACK;
        tier = lo;
        break;
      case 7:
        runAtMs = lo + rd.hi * 4294967296;
        break;
      case 8:
        delayMs = lo + rd.hi * 4294967296;
        break;
      case 9:
        maxRetries = lo;
        break;
      default:
        leaseMs = lo;
    }
  }
  // Both members of a oneof on the wire: protobufjs keeps both; leave that to it.
  if ((priority >= 0 && tier >= 0) || (runAtMs >= 0 && delayMs >= 0)) throw FALLBACK;
  const m: TaskSpecMsg & Record<string, unknown> = {
    type,
    queue,
    payload: payload ?? Buffer.alloc(0),
    payload_is_json: payloadIsJson,
    idempotency_key: idempotencyKey,
  };
  if (priority >= 0) {
    m.priority = priority;
    m.priority_choice = "priority";
  } else if (tier >= 0) {
    m.tier = TIER_NAMES[tier]!;
    m.priority_choice = "tier";
  }
  if (runAtMs >= 0) {
    m.run_at_ms = runAtMs;
    m.schedule = "run_at_ms";
  } else if (delayMs >= 0) {
    m.delay_ms = delayMs;
    m.schedule = "delay_ms";
  }
  if (maxRetries >= 0) {
    m.max_retries = maxRetries;
    m._max_retries = "max_retries";
  }
  if (leaseMs >= 0) {
    m.lease_ms = leaseMs;
    m._lease_ms = "lease_ms";
  }
  return m;
}

/** SubmitBatchRequest's bytes as proto-loader's object; null = not a case the fast path takes. */
function tryDecodeSubmitBatchRequest(bytes: Buffer): { tasks: TaskSpecMsg[] } | null {
  return tryRead(bytes, (end) => ({ tasks: readRepeatedField1(end, readTaskSpec) }));
}


interface OutcomeMsg {
  id: string;
  status: string | number;
  duplicate: boolean;
}

/** One SubmitOutcome up to `stop`. */
function readOutcome(stop: number): OutcomeMsg {
  let id = "";
  let status = 0;
  let duplicate = false;
  while (rd.pos < stop) {
    const t = readTag(stop);
    const field = t >>> 3;
    if (field > 3) {
      skipField(t & 7, stop);
      continue;
    }
    if (field === 1) {
      if ((t & 7) !== 2) throw FALLBACK;
      const s = readLengthEnd(stop);
      id = readString(rd.pos, s);
      rd.pos = s;
      continue;
    }
    if ((t & 7) !== 0) throw FALLBACK;
    const lo = readVarint(stop);
    if (field === 2) {
      if (lo >= TASK_STATUS_NAMES.length) throw FALLBACK;
      status = lo;
    } else duplicate = lo !== 0;
  }
  return { id, status: TASK_STATUS_NAMES[status]!, duplicate };
}

/** SubmitBatchResponse's bytes as proto-loader's object (clients); null = not a fast-path case. */
function tryDecodeSubmitBatchResponse(bytes: Buffer): { outcomes: OutcomeMsg[] } | null {
  return tryRead(bytes, (end) => ({ outcomes: readRepeatedField1(end, readOutcome) }));
}

/**
 * SubmitBatchResponse as bytes, exactly as proto-loader writes it (every field the object has,
 * zero values included); null = not a case the fast path takes.
 */
function tryEncodeSubmitBatchResponse(value: unknown): Buffer | null {
  const outcomes = (value as { outcomes?: unknown } | null)?.outcomes;
  if (!Array.isArray(outcomes)) return null;
  const sizes = new Array<number>(outcomes.length);
  const statuses = new Array<number>(outcomes.length);
  let total = 0;
  for (let i = 0; i < outcomes.length; i++) {
    const o = outcomes[i] as Partial<OutcomeMsg> | null;
    if (o === null || typeof o !== "object") return null;
    let size = 0;
    if (present(o.id)) {
      if (typeof o.id !== "string") return null;
      const len = utf8Length(o.id);
      size += 1 + varintSize(len) + len;
    }
    let status = -1;
    if (present(o.status)) {
      status = typeof o.status === "string" ? (TASK_STATUS_NUMBER.get(o.status) ?? -1) : -1;
      if (status < 0) return null;
      size += 2;
    }
    statuses[i] = status;
    if (present(o.duplicate)) {
      if (typeof o.duplicate !== "boolean") return null;
      size += 2;
    }
    sizes[i] = size;
    total += 1 + varintSize(size) + size;
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < outcomes.length; i++) {
    const o = outcomes[i] as OutcomeMsg;
    out[at++] = 0x0a;
    at = writeVarint(out, at, sizes[i]!);
    if (present(o.id)) {
      out[at++] = 0x0a;
      const len = utf8Length(o.id);
      at = writeVarint(out, at, len);
      at = writeString(out, at, o.id, len);
    }
    if (statuses[i]! >= 0) {
      out[at++] = 0x10;
      out[at++] = statuses[i]!;
    }
    if (present(o.duplicate)) {
      out[at++] = 0x18;
      out[at++] = o.duplicate ? 1 : 0;
    }
  }
  return out;
}

/** The TaskSpec fields in field order: number, kind. */
const SPEC_FIELDS: ReadonlyArray<readonly [number, keyof TaskSpecMsg, "string" | "bytes" | "bool" | "uint32" | "tier" | "uint64"]> = [
  [1, "type", "string"],
  [2, "queue", "string"],
  [3, "payload", "bytes"],
  [4, "payload_is_json", "bool"],
  [5, "priority", "uint32"],
  [6, "tier", "tier"],
  [7, "run_at_ms", "uint64"],
  [8, "delay_ms", "uint64"],
  [9, "max_retries", "uint32"],
  [10, "lease_ms", "uint32"],
  [11, "idempotency_key", "string"],
];

/** One field's value as a varint number or bytes; null = not a fast-path case. */
function specFieldValue(kind: (typeof SPEC_FIELDS)[number][2], v: unknown): number | Uint8Array | string | null {
  switch (kind) {
    case "string":
      return typeof v === "string" ? v : null;
    case "bytes":
      return v instanceof Uint8Array ? v : null;
    case "bool":
      return typeof v === "boolean" ? (v ? 1 : 0) : null;
    case "uint32":
      return isUint32(v) ? v : null;
    case "tier":
      return typeof v === "string" ? (TIER_NUMBER.get(v) ?? null) : null;
    default:
      return isUint64(v) ? v : null;
  }
}

/**
 * SubmitBatchRequest as bytes, exactly as proto-loader writes it (every field the object has, in
 * field order); null = not a case the fast path takes (a client then uses proto-loader's).
 */
function tryEncodeSubmitBatchRequest(value: unknown): Buffer | null {
  const tasks = (value as { tasks?: unknown } | null)?.tasks;
  if (!Array.isArray(tasks)) return null;
  const values: Array<Array<number | Uint8Array | string | null>> = new Array(tasks.length);
  const sizes = new Array<number>(tasks.length);
  let total = 0;
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i] as Record<string, unknown> | null;
    if (t === null || typeof t !== "object") return null;
    const row: Array<number | Uint8Array | string | null> = new Array(SPEC_FIELDS.length);
    let size = 0;
    for (let f = 0; f < SPEC_FIELDS.length; f++) {
      const [number, name, kind] = SPEC_FIELDS[f]!;
      const raw = t[name];
      if (!present(raw)) {
        row[f] = null;
        continue;
      }
      const v = specFieldValue(kind, raw);
      if (v === null) return null;
      row[f] = v;
      const tagSize = number < 16 ? 1 : 2;
      if (typeof v === "number") size += tagSize + varintSize(v);
      else {
        const len = typeof v === "string" ? utf8Length(v) : v.byteLength;
        size += tagSize + varintSize(len) + len;
      }
    }
    values[i] = row;
    sizes[i] = size;
    total += 1 + varintSize(size) + size;
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < tasks.length; i++) {
    out[at++] = 0x0a;
    at = writeVarint(out, at, sizes[i]!);
    const row = values[i]!;
    for (let f = 0; f < SPEC_FIELDS.length; f++) {
      const v = row[f];
      if (v === null || v === undefined) continue;
      const number = SPEC_FIELDS[f]![0];
      if (typeof v === "number") {
        out[at++] = number << 3;
        at = writeVarint(out, at, v);
      } else if (typeof v === "string") {
        out[at++] = (number << 3) | 2;
        const len = utf8Length(v);
        at = writeVarint(out, at, len);
        at = writeString(out, at, v, len);
      } else {
        out[at++] = (number << 3) | 2;
        at = writeVarint(out, at, v.byteLength);
        out.set(v, at);
        at += v.byteLength;
      }
    }
  }
  return out;
}

/** The fast paths alone (null where proto-loader's function would be asked), for the codec's tests. */
export const FAST_PATHS = {
  decodeRequest: tryDecodeSubmitBatchRequest,
  encodeRequest: tryEncodeSubmitBatchRequest,
  decodeResponse: tryDecodeSubmitBatchResponse,
  encodeResponse: tryEncodeSubmitBatchResponse,
};

// ---- the method definitions with the fast functions, proto-loader's as the fallback -------------

export interface SubmitBatchCodec {
  decodeRequest(bytes: Buffer): unknown;
  encodeRequest(value: unknown): Buffer;
  decodeResponse(bytes: Buffer): unknown;
  encodeResponse(value: unknown): Buffer;
}

/** The four functions for SubmitBatch, each falling back on proto-loader's `method`. */
export function submitBatchCodec(method: MethodDefinition<unknown, unknown>): SubmitBatchCodec {
  return {
    decodeRequest: (bytes) => tryDecodeSubmitBatchRequest(bytes) ?? method.requestDeserialize(bytes),
    encodeRequest: (value) => tryEncodeSubmitBatchRequest(value) ?? method.requestSerialize(value),
    decodeResponse: (bytes) => tryDecodeSubmitBatchResponse(bytes) ?? method.responseDeserialize(bytes),
    encodeResponse: (value) => tryEncodeSubmitBatchResponse(value) ?? method.responseSerialize(value),
  };
}
