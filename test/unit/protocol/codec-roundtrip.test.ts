// Every sample message survives encode -> frame -> decode unchanged, alone and pipelined in one buffer.

import { describe, expect, test } from "bun:test";
import { FrameDecoder } from "../../../src/protocol/frame-decoder.ts";
import { FrameWriter, encodeRequest, encodeResponse } from "../../../src/protocol/frame-writer.ts";
import { RequestType, ResponseType, type RequestKind, type ResponseKind } from "../../../src/protocol/message-types.ts";
import { decodeRequest } from "../../../src/protocol/request-codec.ts";
import { decodeResponse } from "../../../src/protocol/response-codec.ts";
import { ByteWriter } from "../../../src/protocol/byte-writer.ts";
import { MAX_ERROR_BYTES } from "../../../src/protocol/limits.ts";
import { ALL_REQUESTS, ALL_RESPONSES, REQUEST_SAMPLES, RESPONSE_SAMPLES, TASK_ID } from "./sample-messages.ts";

function onlyFrame(bytes: Uint8Array): { type: number; body: Uint8Array } {
  const d = new FrameDecoder();
  d.push(bytes);
  const frame = d.next();
  expect(frame).not.toBeNull();
  expect(d.next()).toBeNull();
  expect(d.bufferedBytes).toBe(0);
  return frame!;
}

describe("every request round-trips", () => {
  for (const kind of Object.keys(REQUEST_SAMPLES) as RequestKind[]) {
    test(kind, () => {
      for (const m of REQUEST_SAMPLES[kind]) {
        const frame = onlyFrame(encodeRequest(m));
        expect(frame.type).toBe(RequestType[kind]);
        expect(decodeRequest(frame.type, frame.body)).toEqual(m);
      }
    });
  }
});

describe("every response round-trips", () => {
  for (const kind of Object.keys(RESPONSE_SAMPLES) as ResponseKind[]) {
    test(kind, () => {
      for (const m of RESPONSE_SAMPLES[kind]) {
        const frame = onlyFrame(encodeResponse(m));
        expect(frame.type).toBe(ResponseType[kind]);
        expect(decodeResponse(frame.type, frame.body)).toEqual(m);
      }
    });
  }
});

test("the frame length counts the type byte and the body", () => {
  const bytes = encodeRequest({ kind: "Ping", requestId: 0x01020304 });
  expect([...bytes]).toEqual([0, 0, 0, 5, RequestType.Ping, 1, 2, 3, 4]);
});

test("an empty queue on the wire decodes as the default queue, an empty claim list as [default]", () => {
  const submit = encodeRequest({ kind: "SubmitTask", requestId: 1, task: { type: "t", queue: "", payload: new Uint8Array(0), payloadIsJson: false } });
  const s = onlyFrame(submit);
  expect(decodeRequest(s.type, s.body)).toMatchObject({ task: { queue: "default" } });
  const claim = onlyFrame(encodeRequest({ kind: "ClaimTask", requestId: 1, queues: [], max: 1, waitMs: 0 }));
  expect(decodeRequest(claim.type, claim.body)).toMatchObject({ queues: ["default"] });
});

test("decoded payloads are copies: reusing the received buffer does not change them", () => {
  const bytes = encodeRequest(REQUEST_SAMPLES.SubmitTask[0]!);
  const frame = onlyFrame(bytes);
  const m = decodeRequest(frame.type, frame.body);
  bytes.fill(0);
  expect(m).toEqual(REQUEST_SAMPLES.SubmitTask[0]!);
});

test("FrameWriter coalesces many frames into one buffer that decodes in order", () => {
  const w = new FrameWriter(16);
  for (const m of ALL_RESPONSES) w.response(m);
  for (const m of ALL_REQUESTS) w.request(m);
  const all = w.take();
  expect(w.length).toBe(0);
  const d = new FrameDecoder();
  d.push(all);
  const got = [...d].map((f) => (f.type >= 0x80 ? decodeResponse(f.type, f.body) : decodeRequest(f.type, f.body)));
  expect(got).toEqual([...ALL_RESPONSES, ...ALL_REQUESTS]);
});

test("FrameWriter appends nothing when a message does not fit its fields, and stays usable", () => {
  const w = new FrameWriter();
  w.response({ kind: "Pong", requestId: 1 });
  const before = w.length;
  expect(() => w.response({ kind: "Submitted", requestId: 2, id: "not-a-uuid", status: "pending", duplicate: false })).toThrow(
    expect.objectContaining({ code: 4, field: "id" }),
  );
  expect(() => w.request({ kind: "ClaimTask", requestId: 2, queues: ["q"], max: 70_000, waitMs: 0 })).toThrow(
    expect.objectContaining({ code: 4, field: "max" }),
  );
  expect(() => w.request({ kind: "Ping", requestId: -1 })).toThrow(expect.objectContaining({ code: 4, field: "requestId" }));
  expect(w.length).toBe(before);
  w.response({ kind: "Pong", requestId: 3 });
  const d = new FrameDecoder();
  d.push(w.take());
  expect([...d].map((f) => decodeResponse(f.type, f.body))).toEqual([
    { kind: "Pong", requestId: 1 },
    { kind: "Pong", requestId: 3 },
  ]);
});

test("encoding a frame over 16 MiB throws FrameTooLarge", () => {
  const big = new Uint8Array(9 * 1024 * 1024);
  const task = { type: "t", queue: "q", payload: big, payloadIsJson: false };
  expect(() => encodeRequest({ kind: "SubmitBatch", requestId: 1, tasks: [task, task] })).toThrow(expect.objectContaining({ code: 2 }));
  // The shared scratch writer is left clean for the next caller.
  expect(onlyFrame(encodeRequest({ kind: "Ping", requestId: 7 })).body.length).toBe(4);
});

test("uuids are accepted in upper case and always decoded lower case", () => {
  const f = onlyFrame(encodeRequest({ kind: "QueryStatus", requestId: 1, id: "01936F0E-7A3C-7D21-9B4E-3F2A1C5D8E90" }));
  expect(decodeRequest(f.type, f.body)).toMatchObject({ id: "01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90" });
});

test("u64 timestamps up to 2^53-1 survive", () => {
  const m = { kind: "Renewed" as const, requestId: 1, expiresAtMs: [Number.MAX_SAFE_INTEGER, 1, 2 ** 32, 2 ** 32 - 1] };
  const f = onlyFrame(encodeResponse(m));
  expect(decodeResponse(f.type, f.body)).toEqual(m);
});

test("names decode exactly through the intern cache, colliding slots and non-ASCII included", () => {
  const names = Array.from({ length: 3000 }, (_, i) => `q${i.toString(36)}`);
  for (let round = 0; round < 2; round++) {
    for (const queue of names) {
      const f = onlyFrame(encodeRequest({ kind: "SubmitTask", requestId: 1, task: { type: "tÿpé", queue, payload: new Uint8Array(0), payloadIsJson: false } }));
      const m = decodeRequest(f.type, f.body);
      if (m.kind !== "SubmitTask" || m.task.queue !== queue || m.task.type !== "tÿpé") throw new Error(`decoded ${JSON.stringify(m)} for ${queue}`);
    }
  }
});

describe("task error messages over 64 KiB are cut, not refused", () => {
  // "x" then 2-byte characters: byte 65536 is the middle of a character, so the cut must step back one.
  const long = "é".repeat(40_000) + "tail";
  test("the encoder cuts at a character boundary", () => {
    const f = onlyFrame(encodeRequest({ kind: "TaskResult", requestId: 1, id: TASK_ID, token: 1, outcome: "failed", resultIsJson: false, result: new Uint8Array(0), error: "x" + long }));
    const m = decodeRequest(f.type, f.body);
    if (m.kind !== "TaskResult") throw new Error(m.kind);
    expect(new TextEncoder().encode(m.error).length).toBe(MAX_ERROR_BYTES - 1);
    expect(m.error).toBe("x" + "é".repeat((MAX_ERROR_BYTES - 2) / 2));
  });

  test("the decoder cuts what a client sent uncut", () => {
    const w = new ByteWriter();
    w.u32("requestId", 5);
    w.uuid("id", TASK_ID);
    w.u32("token", 1);
    w.u8("outcome", 1);
    w.bool("resultIsJson", false);
    w.bytes("result", new Uint8Array(0), 0);
    w.text("error", "x" + long, 1 << 20);
    const m = decodeRequest(RequestType.TaskResult, w.buf.subarray(0, w.pos));
    if (m.kind !== "TaskResult") throw new Error(m.kind);
    expect(m.requestId).toBe(5);
    expect(m.error).toBe("x" + "é".repeat((MAX_ERROR_BYTES - 2) / 2));
  });
});
