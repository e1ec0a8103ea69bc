// An independent codec for the wire protocol, written from docs/PROTOCOL.md alone (it imports
// nothing from src/): what an outside client author would build. Messages are plain JSON-like
// objects in the doc's example notation ({"kind", "requestId", ...}; byte fields as {hex}/{utf8}).

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Msg = { kind: string; requestId: number; [k: string]: Json | undefined };

const STATUSES = ["pending", "scheduled", "in_progress", "completed", "failed", "dead", "cancelled"];
const OUTCOMES = ["completed", "failed", "unrecoverable"];
const COMMANDS = ["none", "quiet", "shutdown"];
const ENTRIES = ["ok", "fail", "error"];

export const hexOf = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
export function bytesOfHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex.replace(/\s+/g, ""), "hex"));
}
/** A byte field given as {utf8}, {hex} or a string (taken as UTF-8). */
export function bytesOf(v: Json | undefined): Uint8Array {
  if (v === undefined || v === null) return new Uint8Array(0);
  if (typeof v === "string") return new TextEncoder().encode(v);
  if (typeof v === "object" && !Array.isArray(v)) {
    if (typeof v.utf8 === "string") return new TextEncoder().encode(v.utf8);
    if (typeof v.hex === "string") return bytesOfHex(v.hex);
  }
  throw new Error(`not a byte field: ${JSON.stringify(v)}`);
}

export class Writer {
  private chunks: Uint8Array[] = [];
  private small: number[] = [];
  private flush(): void { if (this.small.length) { this.chunks.push(Uint8Array.from(this.small)); this.small = []; } }
  u8(v: number): this { this.small.push(v & 0xff); return this; }
  u16(v: number): this { return this.u8(v >>> 8).u8(v); }
  u32(v: number): this { return this.u8(v >>> 24).u8(v >>> 16).u8(v >>> 8).u8(v); }
  u64(v: number): this { return this.u32(Math.floor(v / 2 ** 32)).u32(v % 2 ** 32); }
  f32(v: number): this { const b = new DataView(new ArrayBuffer(4)); b.setFloat32(0, v); return this.raw(new Uint8Array(b.buffer)); }
  bool(v: boolean): this { return this.u8(v ? 1 : 0); }
  raw(b: Uint8Array): this { this.flush(); this.chunks.push(b); return this; }
  str(s: string): this { const b = new TextEncoder().encode(s); return this.u16(b.length).raw(b); }
  text(s: string): this { const b = new TextEncoder().encode(s); return this.u32(b.length).raw(b); }
  bytes(b: Uint8Array): this { return this.u32(b.length).raw(b); }
  uuid(id: string): this { return this.raw(bytesOfHex(id.replace(/-/g, ""))); }
  done(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of this.chunks) { out.set(c, at); at += c.length; }
    return out;
  }
}

export class Reader {
  private at = 0;
  private view: DataView;
  constructor(private b: Uint8Array) { this.view = new DataView(b.buffer, b.byteOffset, b.byteLength); }
  private need(n: number): number {
    if (this.at + n > this.b.length) throw new Error(`truncated at ${this.at}, need ${n}`);
    const at = this.at; this.at += n; return at;
  }
  u8(): number { return this.b[this.need(1)]!; }
  u16(): number { return this.view.getUint16(this.need(2)); }
  u32(): number { return this.view.getUint32(this.need(4)); }
  u64(): number { const hi = this.u32(); return hi * 2 ** 32 + this.u32(); }
  f32(): number { return this.view.getFloat32(this.need(4)); }
  bool(): boolean { const v = this.u8(); if (v > 1) throw new Error(`bool ${v}`); return v === 1; }
  raw(n: number): Uint8Array { const at = this.need(n); return this.b.slice(at, at + n); }
  str(): string { return new TextDecoder("utf-8", { fatal: true }).decode(this.raw(this.u16())); }
  text(): string { return new TextDecoder("utf-8", { fatal: true }).decode(this.raw(this.u32())); }
  bytes(): Json { return { hex: hexOf(this.raw(this.u32())) }; }
  uuid(): string { const h = hexOf(this.raw(16)); return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`; }
  end(): void { if (this.at !== this.b.length) throw new Error(`${this.b.length - this.at} trailing bytes`); }
}

// ---- field kinds: each knows how to write a JSON value and read it back ----
type Kind = { w: (w: Writer, v: Json | undefined) => void; r: (r: Reader) => Json };
const num = (v: Json | undefined): number => (typeof v === "number" ? v : 0);
const K = {
  u8: { w: (w, v) => w.u8(num(v)), r: (r) => r.u8() } as Kind,
  u16: { w: (w, v) => w.u16(num(v)), r: (r) => r.u16() } as Kind,
  u32: { w: (w, v) => w.u32(num(v)), r: (r) => r.u32() } as Kind,
  u64: { w: (w, v) => w.u64(num(v)), r: (r) => r.u64() } as Kind,
  /** A nullable timestamp: 0 on the wire is null. */
  ts: { w: (w, v) => w.u64(num(v)), r: (r) => { const v = r.u64(); return v === 0 ? null : v; } } as Kind,
  f32: { w: (w, v) => w.f32(num(v)), r: (r) => r.f32() } as Kind,
  bool: { w: (w, v) => w.bool(v === true), r: (r) => r.bool() } as Kind,
  str: { w: (w, v) => w.str(typeof v === "string" ? v : ""), r: (r) => r.str() } as Kind,
  text: { w: (w, v) => w.text(typeof v === "string" ? v : ""), r: (r) => r.text() } as Kind,
  bytes: { w: (w, v) => w.bytes(bytesOf(v)), r: (r) => r.bytes() } as Kind,
  uuid: { w: (w, v) => w.uuid(String(v)), r: (r) => r.uuid() } as Kind,
};
function enumKind(names: string[]): Kind {
  return {
    w: (w, v) => w.u8(typeof v === "number" ? v : names.indexOf(String(v))),
    r: (r) => { const b = r.u8(); return names[b] ?? b; },
  };
}
function list(item: Kind): Kind {
  return {
    w: (w, v) => { const a = (v as Json[] | undefined) ?? []; w.u16(a.length); for (const x of a) item.w(w, x); },
    r: (r) => { const n = r.u16(); const out: Json[] = []; for (let i = 0; i < n; i++) out.push(item.r(r)); return out; },
  };
}
type Fields = [string, Kind][];
function struct(fields: Fields): Kind {
  return {
    w: (w, v) => { const o = (v ?? {}) as Record<string, Json>; for (const [name, k] of fields) k.w(w, o[name]); },
    r: (r) => { const o: Record<string, Json> = {}; for (const [name, k] of fields) o[name] = k.r(r); return o; },
  };
}
const status = enumKind(STATUSES);
const leaseRef = struct([["id", K.uuid], ["token", K.u32]]);

/** TaskSpec: flags byte announces the optional fields (PROTOCOL.md §8). */
const taskSpec: Kind = {
  w(w, v) {
    const t = v as Record<string, Json>;
    const has = (k: string): boolean => t[k] !== undefined && t[k] !== null;
    const flags = (has("runAtMs") ? 1 : 0) | (has("maxRetries") ? 2 : 0) | (has("leaseMs") ? 4 : 0) | (has("idempotencyKey") ? 8 : 0) | (has("priority") ? 0x10 : 0) | (t.payloadIsJson === true ? 0x20 : 0);
    w.u8(typeof t.flags === "number" ? t.flags : flags).str(String(t.type ?? "")).str(String(t.queue ?? ""));
    if (has("priority")) w.u8(num(t.priority));
    if (has("runAtMs")) w.u64(num(t.runAtMs));
    if (has("maxRetries")) w.u16(num(t.maxRetries));
    if (has("leaseMs")) w.u32(num(t.leaseMs));
    if (has("idempotencyKey")) w.str(String(t.idempotencyKey));
    w.bytes(bytesOf(t.payload));
  },
  r(r) {
    const flags = r.u8();
    if (flags & 0xc0) throw new Error(`flags ${flags}`);
    const t: Record<string, Json> = { type: r.str(), queue: r.str() };
    if (flags & 0x10) t.priority = r.u8();
    if (flags & 1) t.runAtMs = r.u64();
    if (flags & 2) t.maxRetries = r.u16();
    if (flags & 4) t.leaseMs = r.u32();
    if (flags & 8) t.idempotencyKey = r.str();
    t.payload = r.bytes();
    t.payloadIsJson = (flags & 0x20) !== 0;
    return t;
  },
};

const claimedTask = struct([
  ["id", K.uuid], ["token", K.u32], ["expiresAtMs", K.u64], ["attempts", K.u16], ["priority", K.u8],
  ["queue", K.str], ["type", K.str], ["payloadIsJson", K.bool], ["payload", K.bytes], ["createdAtMs", K.u64], ["maxRetries", K.u16],
]);

/** TaskInfo: flags first, optional workerId/idempotencyKey/result/error (PROTOCOL.md §8). */
const taskInfo: Kind = {
  w(w, v) {
    const t = v as Record<string, Json>;
    const has = (k: string): boolean => t[k] !== undefined && t[k] !== null;
    const flags = (t.payloadIsJson === true ? 1 : 0) | (has("result") ? 2 : 0) | (t.resultIsJson === true ? 4 : 0) | (has("error") ? 8 : 0) | (has("workerId") ? 0x10 : 0) | (has("idempotencyKey") ? 0x20 : 0);
    w.u8(flags).uuid(String(t.id));
    status.w(w, t.status);
    w.str(String(t.type)).str(String(t.queue)).u8(num(t.priority)).u16(num(t.attempts)).u16(num(t.maxRetries)).u32(num(t.leaseMs));
    for (const k of ["runAtMs", "createdAtMs", "updatedAtMs", "startedAtMs", "finishedAtMs", "leaseExpiresAtMs"]) w.u64(num(t[k]));
    if (has("workerId")) w.str(String(t.workerId));
    if (has("idempotencyKey")) w.str(String(t.idempotencyKey));
    w.bytes(bytesOf(t.payload));
    if (has("result")) w.bytes(bytesOf(t.result));
    if (has("error")) w.text(String(t.error));
  },
  r(r) {
    const flags = r.u8();
    if (flags & 0xc0) throw new Error(`flags ${flags}`);
    const t: Record<string, Json> = { id: r.uuid(), status: status.r(r), type: r.str(), queue: r.str(), priority: r.u8(), attempts: r.u16(), maxRetries: r.u16(), leaseMs: r.u32() };
    t.runAtMs = K.ts.r(r); t.createdAtMs = r.u64(); t.updatedAtMs = r.u64();
    t.startedAtMs = K.ts.r(r); t.finishedAtMs = K.ts.r(r); t.leaseExpiresAtMs = K.ts.r(r);
    t.workerId = flags & 0x10 ? r.str() : null;
    t.idempotencyKey = flags & 0x20 ? r.str() : null;
    t.payloadIsJson = (flags & 1) !== 0;
    t.payload = r.bytes();
    t.resultIsJson = (flags & 4) !== 0;
    t.result = flags & 2 ? r.bytes() : null;
    t.error = flags & 8 ? r.text() : null;
    return t;
  },
};

const listTasksBody: Kind = {
  w(w, v) {
    const m = v as Record<string, Json>;
    const has = (k: string): boolean => m[k] !== undefined && m[k] !== null;
    w.u8((has("status") ? 1 : 0) | (has("queue") ? 2 : 0) | (has("type") ? 4 : 0) | (has("cursor") ? 8 : 0));
    if (has("status")) status.w(w, m.status);
    if (has("queue")) w.str(String(m.queue));
    if (has("type")) w.str(String(m.type));
    w.u16(num(m.limit));
    if (has("cursor")) w.str(String(m.cursor));
  },
  r(r) {
    const flags = r.u8();
    const m: Record<string, Json> = {};
    if (flags & 1) m.status = status.r(r);
    if (flags & 2) m.queue = r.str();
    if (flags & 4) m.type = r.str();
    m.limit = r.u16();
    if (flags & 8) m.cursor = r.str();
    return m;
  },
};

const errorFields: Fields = [["code", K.u16], ["retryAfterMs", K.u32], ["field", K.str], ["message", K.str]];
const resultItem: Fields = [["id", K.uuid], ["token", K.u32], ["outcome", enumKind(OUTCOMES)], ["resultIsJson", K.bool], ["result", K.bytes], ["error", K.text]];
const failFields: Fields = [["status", status], ["retryAtMs", K.ts], ["attempts", K.u16]];
const batchEntry: Kind = {
  w(w, v) {
    const e = v as Record<string, Json>;
    const tag = ENTRIES.indexOf(String(e.entry));
    w.u8(tag);
    if (tag === 1) struct(failFields).w(w, e);
    if (tag === 2) struct(errorFields).w(w, e);
  },
  r(r) {
    const tag = r.u8();
    const e: Record<string, Json> = { entry: ENTRIES[tag] ?? tag };
    if (tag === 1) Object.assign(e, struct(failFields).r(r));
    else if (tag === 2) Object.assign(e, struct(errorFields).r(r));
    else if (tag !== 0) throw new Error(`entry ${tag}`);
    return e;
  },
};

/** Whole-body layouts after requestId. A "spread" kind merges its object into the message. */
type Layout = { name: string; fields: Fields; spread?: Kind };
const cursor: Kind = { w: (w, v) => w.str(typeof v === "string" ? v : ""), r: (r) => { const s = r.str(); return s === "" ? null : s; } };

export const REQUESTS: Record<number, Layout> = {
  0x01: { name: "Hello", fields: [["version", K.u16], ["apiKey", K.str], ["clientName", K.str]] },
  0x02: { name: "SubmitTask", fields: [["task", taskSpec]] },
  0x03: { name: "SubmitBatch", fields: [["tasks", list(taskSpec)]] },
  0x04: { name: "ClaimTask", fields: [["queues", list(K.str)], ["max", K.u16], ["waitMs", K.u32]] },
  0x05: { name: "TaskResult", fields: resultItem },
  0x06: { name: "Nack", fields: [["leases", list(leaseRef)]] },
  0x07: { name: "RenewLease", fields: [["leases", list(leaseRef)]] },
  0x08: { name: "Heartbeat", fields: [["workerId", K.str], ["cpuPercent", K.f32], ["memoryMb", K.u32], ["inFlight", list(leaseRef)]] },
  0x09: { name: "RegisterWorker", fields: [["workerId", K.str], ["hostname", K.str], ["pid", K.u32], ["queues", list(K.str)], ["concurrency", K.u16], ["version", K.str], ["labels", list(struct([["key", K.str], ["value", K.str]]))]] },
  0x0a: { name: "DeregisterWorker", fields: [["workerId", K.str]] },
  0x0b: { name: "QueryStatus", fields: [["id", K.uuid]] },
  0x0c: { name: "WaitResult", fields: [["id", K.uuid], ["waitMs", K.u32]] },
  0x0d: { name: "CancelTask", fields: [["id", K.uuid]] },
  0x0e: { name: "RetryTask", fields: [["id", K.uuid]] },
  0x0f: { name: "ListTasks", fields: [], spread: listTasksBody },
  0x10: { name: "GetStats", fields: [] },
  0x11: { name: "ListWorkers", fields: [] },
  0x12: { name: "Ping", fields: [] },
  0x13: { name: "TaskResultBatch", fields: [["results", list(struct(resultItem))]] },
  0x14: { name: "EnableNotices", fields: [["notices", K.u8]] },
  0x15: { name: "Subscribe", fields: [["subscriptionId", K.u32], ["queues", list(K.str)], ["credits", K.u16]] },
  0x16: { name: "Unsubscribe", fields: [["subscriptionId", K.u32]] },
};

export const RESPONSES: Record<number, Layout> = {
  0x80: { name: "Ack", fields: [] },
  0x81: { name: "HelloOk", fields: [["version", K.u16], ["serverVersion", K.str], ["maxFrameBytes", K.u32], ["maxBatchClaim", K.u16], ["heartbeatIntervalMs", K.u32], ["defaultLeaseMs", K.u32]] },
  0x82: { name: "Submitted", fields: [["id", K.uuid], ["status", status], ["duplicate", K.bool]] },
  0x83: { name: "SubmittedBatch", fields: [["outcomes", list(struct([["id", K.uuid], ["status", status], ["duplicate", K.bool]]))]] },
  0x84: { name: "Claimed", fields: [["tasks", list(claimedTask)]] },
  0x85: { name: "FailOutcome", fields: failFields },
  0x86: { name: "Renewed", fields: [["expiresAtMs", list(K.ts)]] },
  0x87: { name: "HeartbeatOk", fields: [["command", enumKind(COMMANDS)], ["renewed", list(K.ts)]] },
  0x88: { name: "Registered", fields: [["heartbeatIntervalMs", K.u32]] },
  0x89: { name: "TaskInfo", fields: [["task", taskInfo]] },
  0x8a: { name: "TaskList", fields: [["tasks", list(taskInfo)], ["nextCursor", cursor]] },
  0x8b: { name: "Stats", fields: [["json", K.text]] },
  0x8c: { name: "Workers", fields: [["json", K.text]] },
  0x8d: { name: "Pong", fields: [] },
  0x8e: { name: "ResultBatchOutcome", fields: [["entries", list(batchEntry)]] },
  0x8f: { name: "TaskCancelled", fields: [["id", K.uuid], ["token", K.u32]] },
  0x90: { name: "Delivery", fields: [["subscriptionId", K.u32], ["tasks", list(claimedTask)]] },
  0xff: { name: "Error", fields: errorFields },
};

const typeByName = new Map<string, [number, Layout]>();
for (const table of [REQUESTS, RESPONSES]) for (const [t, l] of Object.entries(table)) typeByName.set(l.name, [Number(t), l]);
export const typeOf = (kind: string): number => { const e = typeByName.get(kind); if (!e) throw new Error(`unknown kind ${kind}`); return e[0]; };

/** A whole frame: length u32 (type byte + body) | type u8 | body. */
export function frame(type: number, body: Uint8Array): Uint8Array {
  return new Writer().u32(body.length + 1).u8(type).raw(body).done();
}

/** Encodes a message (request or response) into one frame. */
export function encode(m: Msg): Uint8Array {
  const entry = typeByName.get(m.kind);
  if (!entry) throw new Error(`unknown kind ${m.kind}`);
  const [type, layout] = entry;
  const w = new Writer().u32(m.requestId);
  for (const [name, k] of layout.fields) k.w(w, m[name]);
  layout.spread?.w(w, m as unknown as Json);
  return frame(type, w.done());
}

/** Decodes one frame's type and body (strict: trailing bytes are an error). */
export function decode(type: number, body: Uint8Array): Msg {
  const layout = REQUESTS[type] ?? RESPONSES[type];
  if (!layout) throw new Error(`unknown type 0x${type.toString(16)}`);
  const r = new Reader(body);
  const m: Msg = { kind: layout.name, requestId: r.u32() };
  for (const [name, k] of layout.fields) m[name] = k.r(r);
  if (layout.spread) Object.assign(m, layout.spread.r(r));
  r.end();
  return m;
}

/** Splits a byte string into frames (length-prefixed), decoding each. */
export function decodeFrames(bytes: Uint8Array): Msg[] {
  const out: Msg[] = [];
  let at = 0;
  while (at < bytes.length) {
    const len = new DataView(bytes.buffer, bytes.byteOffset + at).getUint32(0);
    out.push(decode(bytes[at + 4]!, bytes.slice(at + 5, at + 4 + len)));
    at += 4 + len;
  }
  return out;
}

/** The doc writes byte fields as {utf8} or {hex}; this normalises every one to {hex} for comparison. */
export function normalise(v: Json): Json {
  if (Array.isArray(v)) return v.map(normalise);
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v);
    if (keys.length === 1 && (keys[0] === "utf8" || keys[0] === "hex")) return { hex: hexOf(bytesOf(v)) };
    const out: Record<string, Json> = {};
    for (const k of keys) out[k] = normalise(v[k]!);
    return out;
  }
  return v;
}
