// PROTOCOL.md §2, §3, §10 and §11 against a live broker: every framing error, every malformed
// field and every stated limit gets the documented error code, request id and connection fate.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { encode, frame, Writer, type Json } from "./docs-codec.ts";
import { DocsClient, spec } from "./docs-client.ts";

let broker: TestBroker;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker.stop();
});

const open = (): Promise<DocsClient> => DocsClient.open(broker.port);
/** Sends raw bytes and returns the first frame back. */
async function answer(bytes: Uint8Array, c?: DocsClient): Promise<{ f: Record<string, unknown>; c: DocsClient }> {
  const conn = c ?? (await open());
  conn.send(bytes);
  const f = await conn.waitFor(() => true, 5000);
  return { f, c: conn };
}
async function stillUsable(c: DocsClient): Promise<void> {
  expect((await c.call({ kind: "Ping" })).kind).toBe("Pong");
}

describe("framing errors (connection-level: id 0, then closed)", () => {
  test("length 0 is BadFrame", async () => {
    const { f, c } = await answer(new Uint8Array([0, 0, 0, 0]));
    expect(f).toMatchObject({ kind: "Error", code: 1, requestId: 0 });
    expect(await c.closesWithin(2000)).toBe(true);
  });

  test("a length over 16 MiB is FrameTooLarge, decided from the 4 length bytes alone", async () => {
    const { f, c } = await answer(new Writer().u32(16777217).done());
    expect(f).toMatchObject({ kind: "Error", code: 2, requestId: 0 });
    expect(await c.closesWithin(2000)).toBe(true);
  });

  test("a frame of exactly 16 MiB is accepted as a frame (then judged by its body)", async () => {
    const c = await open();
    const body = new Uint8Array(16777216 - 1);
    body.set([0, 0, 0, 9], 0); // requestId 9 of a Ping with 16 MiB of trailing bytes
    c.send(frame(0x12, body));
    const f = await c.reply(9, 20_000);
    expect(f).toMatchObject({ kind: "Error", code: 4, field: "body" });
    await stillUsable(c);
    c.close();
  }, 30_000);
});

describe("frame-level errors that leave the connection usable", () => {
  test("an unknown request type is UnknownMessageType with its request id", async () => {
    const { f, c } = await answer(frame(0x3f, new Writer().u32(77).done()));
    expect(f).toMatchObject({ kind: "Error", code: 3, requestId: 77 });
    await stillUsable(c);
    c.close();
  });

  test("a response type sent as a request is UnknownMessageType", async () => {
    const { f, c } = await answer(frame(0x80, new Writer().u32(78).done()));
    expect(f).toMatchObject({ kind: "Error", code: 3, requestId: 78 });
    await stillUsable(c);
    c.close();
  });

  test("a body shorter than 4 bytes gets an Error with id 0; the connection stays", async () => {
    const { f, c } = await answer(frame(0x12, new Uint8Array([0, 1])));
    expect(f).toMatchObject({ kind: "Error", requestId: 0, code: 4 });
    await stillUsable(c);
    c.close();
  });

  test("the smallest frame (length 1, empty body) is an Error with id 0", async () => {
    const { f, c } = await answer(new Uint8Array([0, 0, 0, 1, 0x12]));
    expect(f).toMatchObject({ kind: "Error", requestId: 0 });
    await stillUsable(c);
    c.close();
  });

  test("frames split at every byte and many frames in one write are read alike", async () => {
    const c = await open();
    const bytes = new Uint8Array([...encode({ kind: "Ping", requestId: 5 }), ...encode({ kind: "Ping", requestId: 6 })]);
    for (const b of bytes) { c.send(new Uint8Array([b])); await Bun.sleep(1); }
    expect((await c.reply(5)).kind).toBe("Pong");
    expect((await c.reply(6)).kind).toBe("Pong");
    c.close();
  });
});

describe("InvalidField for malformed bodies (named field, connection stays)", () => {
  let c: DocsClient;
  beforeAll(async () => {
    c = await open();
  });
  afterAll(() => c.close());
  const body = (type: number, build: (w: Writer) => Writer): Uint8Array => frame(type, build(new Writer().u32(100)).done());
  const err = async (bytes: Uint8Array): Promise<Record<string, unknown>> => {
    c.send(bytes);
    const f = await c.reply(100);
    await stillUsable(c);
    return f;
  };
  const task = (w: Writer, flags: number, extra: (w: Writer) => void = () => {}): Writer => { w.u8(flags).str("t").str("q"); extra(w); return w.bytes(new Uint8Array()); };

  test("trailing bytes: field body", async () => {
    expect(await err(body(0x12, (w) => w.u8(0)))).toMatchObject({ kind: "Error", code: 4, field: "body" });
  });
  test("a truncated body", async () => {
    expect(await err(body(0x0b, (w) => w.u32(1)))).toMatchObject({ kind: "Error", code: 4 });
  });
  test("undefined flag bits: field flags", async () => {
    expect(await err(body(0x02, (w) => task(w, 0x40)))).toMatchObject({ kind: "Error", code: 4, field: "flags" });
  });
  test("a bool of 2", async () => {
    const id = new Uint8Array(16);
    expect(await err(body(0x05, (w) => w.raw(id).u32(1).u8(0).u8(2).bytes(new Uint8Array()).text("")))).toMatchObject({ kind: "Error", code: 4 });
  });
  test("invalid UTF-8 in a str", async () => {
    expect(await err(body(0x02, (w) => w.u8(0).u16(2).raw(new Uint8Array([0xc3, 0x28])).str("q").bytes(new Uint8Array())))).toMatchObject({ kind: "Error", code: 4 });
  });
  test("a u64 above 2^53-1", async () => {
    expect(await err(body(0x02, (w) => task(w, 0x01, (x) => x.u32(0x00200000).u32(0))))).toMatchObject({ kind: "Error", code: 4 });
  });
  test("an unknown status, outcome or enum value", async () => {
    const id = new Uint8Array(16);
    expect(await err(body(0x05, (w) => w.raw(id).u32(1).u8(3).u8(0).bytes(new Uint8Array()).text("")))).toMatchObject({ kind: "Error", code: 4 });
    expect(await err(body(0x0f, (w) => w.u8(1).u8(7).u16(10)))).toMatchObject({ kind: "Error", code: 4 });
  });

  const submitErr = async (extra: Record<string, Json>): Promise<Record<string, unknown>> => err(encode({ kind: "SubmitTask", requestId: 100, task: spec("t", extra) }));
  test("TaskSpec limits name their field", async () => {
    expect(await submitErr({ type: "" })).toMatchObject({ code: 4, field: "type" });
    expect(await submitErr({ type: "x".repeat(256) })).toMatchObject({ code: 4, field: "type" });
    expect(await submitErr({ queue: "a b" })).toMatchObject({ code: 4, field: "queue" });
    expect(await submitErr({ queue: "q".repeat(129) })).toMatchObject({ code: 4, field: "queue" });
    expect(await submitErr({ maxRetries: 1001 })).toMatchObject({ code: 4, field: "maxRetries" });
    expect(await submitErr({ leaseMs: 99 })).toMatchObject({ code: 4, field: "leaseMs" });
    expect(await submitErr({ leaseMs: 86400001 })).toMatchObject({ code: 4, field: "leaseMs" });
    expect(await submitErr({ idempotencyKey: "" })).toMatchObject({ code: 4, field: "idempotencyKey" });
    expect(await submitErr({ idempotencyKey: "k".repeat(256) })).toMatchObject({ code: 4, field: "idempotencyKey" });
    expect(await submitErr({ payloadIsJson: true, payload: { utf8: "[".repeat(513) + "]".repeat(513) } })).toMatchObject({ code: 4, field: "payload" });
  });
  test("a payload marked JSON is not parsed: invalid JSON is stored and delivered as sent", async () => {
    const s = await c.ok({ kind: "SubmitTask", task: spec("t", { queue: "notjson", payloadIsJson: true, payload: { utf8: "{nope" } }) }, "Submitted");
    const [t] = (await c.ok({ kind: "ClaimTask", queues: ["notjson"], max: 1, waitMs: 0 }, "Claimed")).tasks as Record<string, Json>[];
    expect(t).toMatchObject({ id: s.id!, payloadIsJson: true, payload: { hex: Buffer.from("{nope").toString("hex") } });
  });
  test("the limits themselves are accepted", async () => {
    const ok = await c.call({ kind: "SubmitTask", task: spec("x".repeat(255), { queue: "Az09_.:-".padEnd(128, "q"), maxRetries: 1000, leaseMs: 100, idempotencyKey: "k".repeat(255), payloadIsJson: true, payload: { utf8: "[".repeat(512) + "]".repeat(512) } }) });
    expect(ok.kind).toBe("Submitted");
    const ok2 = await c.call({ kind: "SubmitTask", task: spec("t", { maxRetries: 0, leaseMs: 86400000 }) });
    expect(ok2.kind).toBe("Submitted");
  });
  test("a batch error is prefixed by the list position", async () => {
    const f = await err(encode({ kind: "SubmitBatch", requestId: 100, tasks: [spec("a"), spec("b"), spec("c", { maxRetries: 5000 })] }));
    expect(f).toMatchObject({ code: 4, field: "tasks[2].maxRetries" });
  });
  test("ClaimTask with 101 queues or a bad queue name", async () => {
    expect(await err(encode({ kind: "ClaimTask", requestId: 100, queues: Array.from({ length: 101 }, (_, i) => `q${i}`), max: 1, waitMs: 0 }))).toMatchObject({ code: 4 });
    expect(await err(encode({ kind: "ClaimTask", requestId: 100, queues: ["no spaces"], max: 1, waitMs: 0 }))).toMatchObject({ code: 4 });
    expect((await c.call({ kind: "ClaimTask", queues: Array.from({ length: 100 }, (_, i) => `q${i}`), max: 1, waitMs: 0 })).kind).toBe("Claimed");
  });
  test("TaskResultBatch of 1001 items", async () => {
    const item = { id: "01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90", token: 1, outcome: "completed", resultIsJson: false, result: { utf8: "" }, error: "" };
    expect(await err(encode({ kind: "TaskResultBatch", requestId: 100, results: Array.from({ length: 1001 }, () => item) }))).toMatchObject({ code: 4 });
    const r = await c.ok({ kind: "TaskResultBatch", results: Array.from({ length: 1000 }, () => item) }, "ResultBatchOutcome");
    expect((r.entries as { code: number }[]).every((e) => e.code === 8)).toBe(true);
  });
  test("Hello with an unsupported version is UnsupportedVersion and closes", async () => {
    const h = await open();
    const f = await h.call({ kind: "Hello", version: 2, apiKey: "", clientName: "x" });
    expect(f).toMatchObject({ kind: "Error", code: 5 });
    expect(await h.closesWithin(2000)).toBe(true);
  });
});

describe("a payload at its limit", () => {
  test("16711680 bytes are accepted, one more is InvalidField payload", async () => {
    const c = await open();
    const big = new Uint8Array(16711680);
    const ok = await c.call({ kind: "SubmitTask", task: spec("big", { queue: "bigpayload", payload: { hex: Buffer.from(big).toString("hex") } }) }, 30_000);
    expect(ok.kind).toBe("Submitted");
    const over = await c.call({ kind: "SubmitTask", task: spec("big", { queue: "bigpayload", payload: { hex: Buffer.from(new Uint8Array(16711681)).toString("hex") } }) }, 30_000);
    expect(over).toMatchObject({ kind: "Error", code: 4, field: "payload" });
    c.close();
  }, 60_000);
});
