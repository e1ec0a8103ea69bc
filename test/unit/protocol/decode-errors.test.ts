// Malformed bodies: every truncation, trailing bytes, unknown types, wrong field types and out-of-range
// values give a ProtocolError naming the field and carrying the request id when it could be read.

import { describe, expect, test } from "bun:test";
import { ByteWriter } from "../../../src/protocol/byte-writer.ts";
import { ErrorCode } from "../../../src/protocol/errors.ts";
import { encodeRequest, encodeResponse } from "../../../src/protocol/frame-writer.ts";
import { MAX_BATCH_SUBMIT, MAX_CLAIM_WAIT_MS, MAX_RETRIES_LIMIT, MAX_TYPE_BYTES } from "../../../src/protocol/limits.ts";
import { RequestType, ResponseType } from "../../../src/protocol/message-types.ts";
import type { Request } from "../../../src/protocol/messages.ts";
import { ProtocolError } from "../../../src/protocol/protocol-error.ts";
import { decodeRequest } from "../../../src/protocol/request-codec.ts";
import { decodeResponse } from "../../../src/protocol/response-codec.ts";
import { ALL_REQUESTS, ALL_RESPONSES, TASK_ID } from "./sample-messages.ts";

function bodyOf(frame: Uint8Array): { type: number; body: Uint8Array } {
  return { type: frame[4]!, body: frame.subarray(5) };
}

function decodeError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
  throw new Error("expected a ProtocolError");
}

/** A request body written field by field, for layouts the encoder refuses to produce. */
function rawRequest(type: number, write: (w: ByteWriter) => void, requestId = 77): { type: number; body: Uint8Array } {
  const w = new ByteWriter(64);
  w.u32("requestId", requestId);
  write(w);
  return { type, body: w.buf.slice(0, w.pos) };
}

function spec(w: ByteWriter, flags: number, type = "t", queue = "q"): void {
  w.u8("flags", flags);
  w.str("type", type);
  w.str("queue", queue);
}

describe("truncated bodies", () => {
  test("every request cut short at every length is InvalidField, with the request id once 4 bytes arrived", () => {
    for (const m of ALL_REQUESTS) {
      const { type, body } = bodyOf(encodeRequest(m));
      for (let cut = 0; cut < body.length; cut++) {
        const err = decodeError(() => decodeRequest(type, body.subarray(0, cut)));
        expect(err.code).toBe(ErrorCode.InvalidField);
        expect(err.field).toBeTruthy();
        expect(err.requestId).toBe(cut >= 4 ? m.requestId : null);
      }
    }
  });

  test("every response cut short at every length is InvalidField", () => {
    for (const m of ALL_RESPONSES) {
      const { type, body } = bodyOf(encodeResponse(m));
      for (let cut = 0; cut < body.length; cut++) {
        const err = decodeError(() => decodeResponse(type, body.subarray(0, cut)));
        expect(err.code).toBe(ErrorCode.InvalidField);
        expect(err.requestId).toBe(cut >= 4 ? m.requestId : null);
      }
    }
  });
});

test("trailing bytes after any message are rejected, not skipped", () => {
  for (const m of ALL_REQUESTS) {
    const { type, body } = bodyOf(encodeRequest(m));
    const longer = new Uint8Array(body.length + 1);
    longer.set(body);
    const err = decodeError(() => decodeRequest(type, longer));
    expect(err.code).toBe(ErrorCode.InvalidField);
    expect(err.field).toBe("body");
    expect(err.requestId).toBe(m.requestId);
  }
  for (const m of ALL_RESPONSES) {
    const { type, body } = bodyOf(encodeResponse(m));
    const longer = new Uint8Array(body.length + 3);
    longer.set(body);
    expect(decodeError(() => decodeResponse(type, longer)).field).toBe("body");
  }
});

describe("unknown message types", () => {
  test("a type byte that is no request is UnknownMessageType, echoing the request id", () => {
    const body = new Uint8Array([0, 0, 0, 42]);
    for (const type of [0x00, 0x17, 0x3f, 0x40, 0x7f, ResponseType.Ack, ResponseType.Error, 0xc0]) {
      const err = decodeError(() => decodeRequest(type, body));
      expect(err.code).toBe(ErrorCode.UnknownMessageType);
      expect(err.requestId).toBe(42);
    }
  });

  test("without a whole request id there is none to echo", () => {
    const err = decodeError(() => decodeRequest(0x55, new Uint8Array([1, 2])));
    expect(err.code).toBe(ErrorCode.UnknownMessageType);
    expect(err.requestId).toBeNull();
  });

  test("a request type is not a response", () => {
    expect(decodeError(() => decodeResponse(RequestType.Ping, new Uint8Array(4))).code).toBe(ErrorCode.UnknownMessageType);
  });
});

describe("wrong field types and values", () => {
  const cases: [string, { type: number; body: Uint8Array }, string][] = [
    ["a boolean byte of 2", rawRequest(RequestType.TaskResult, (w) => { w.uuid("id", TASK_ID); w.u32("token", 1); w.u8("outcome", 0); w.u8("resultIsJson", 2); }), "resultIsJson"],
    ["an outcome past the table", rawRequest(RequestType.TaskResult, (w) => { w.uuid("id", TASK_ID); w.u32("token", 1); w.u8("outcome", 3); }), "outcome"],
    ["unknown TaskSpec flag bits", rawRequest(RequestType.SubmitTask, (w) => w.u8("flags", 0x40)), "flags"],
    ["invalid UTF-8 in a string", rawRequest(RequestType.SubmitTask, (w) => { w.u8("flags", 0); w.u16("type", 2); w.u8("x", 0xc3); w.u8("x", 0x28); }), "type"],
    ["a string longer than the body", rawRequest(RequestType.SubmitTask, (w) => { w.u8("flags", 0); w.u16("type", 200); w.u8("x", 0x61); }), "type"],
    ["an empty task type", rawRequest(RequestType.SubmitTask, (w) => spec(w, 0, "")), "type"],
    ["a task type over the limit", rawRequest(RequestType.SubmitTask, (w) => spec(w, 0, "x".repeat(MAX_TYPE_BYTES + 1))), "type"],
    ["a queue name with a space", rawRequest(RequestType.SubmitTask, (w) => spec(w, 0, "t", "a b")), "queue"],
    ["maxRetries over the limit", rawRequest(RequestType.SubmitTask, (w) => { spec(w, 0x02); w.u16("maxRetries", MAX_RETRIES_LIMIT + 1); }), "maxRetries"],
    ["a lease below the minimum", rawRequest(RequestType.SubmitTask, (w) => { spec(w, 0x04); w.u32("leaseMs", 5); }), "leaseMs"],
    ["an empty idempotency key", rawRequest(RequestType.SubmitTask, (w) => { spec(w, 0x08); w.str("idempotencyKey", ""); }), "idempotencyKey"],
    ["a payload length past the body", rawRequest(RequestType.SubmitTask, (w) => { spec(w, 0); w.u32("payload", 0xffff_ffff); }), "payload"],
    ["a runAt above 2^53", rawRequest(RequestType.SubmitTask, (w) => { spec(w, 0x01); w.u32("hi", 0xffff_ffff); w.u32("lo", 0); }), "runAtMs"],
    ["an empty batch", rawRequest(RequestType.SubmitBatch, (w) => w.u16("tasks", 0)), "tasks"],
    ["a batch over the limit", rawRequest(RequestType.SubmitBatch, (w) => w.u16("tasks", MAX_BATCH_SUBMIT + 1)), "tasks"],
    ["a batch count the body cannot hold", rawRequest(RequestType.SubmitBatch, (w) => { w.u16("tasks", 5000); spec(w, 0); w.u32("payload", 0); }), "tasks"],
    ["a claim of 0 tasks", rawRequest(RequestType.ClaimTask, (w) => { w.u16("queues", 0); w.u16("max", 0); w.u32("waitMs", 0); }), "max"],
    ["a claim wait over the limit", rawRequest(RequestType.ClaimTask, (w) => { w.u16("queues", 0); w.u16("max", 1); w.u32("waitMs", MAX_CLAIM_WAIT_MS + 1); }), "waitMs"],
    ["a bad queue in a claim list", rawRequest(RequestType.ClaimTask, (w) => { w.u16("queues", 2); w.str("q", "ok"); w.str("q", "no/slash"); w.u16("max", 1); w.u32("waitMs", 0); }), "queues[1]"],
    ["an empty worker id", rawRequest(RequestType.DeregisterWorker, (w) => w.str("workerId", "")), "workerId"],
    ["a NaN cpu figure", rawRequest(RequestType.Heartbeat, (w) => { w.str("workerId", "w"); w.u32("nan", 0x7fc00000); w.u32("memoryMb", 1); w.u16("inFlight", 0); }), "cpuPercent"],
    ["a lease list longer than the body", rawRequest(RequestType.Nack, (w) => { w.u16("leases", 2); w.uuid("id", TASK_ID); w.u32("token", 1); }), "leases"],
    ["a zero concurrency", rawRequest(RequestType.RegisterWorker, (w) => { w.str("workerId", "w"); w.str("hostname", "h"); w.u32("pid", 1); w.u16("queues", 0); w.u16("concurrency", 0); }), "concurrency"],
    ["a status past the table", rawRequest(RequestType.ListTasks, (w) => { w.u8("flags", 0x01); w.u8("status", 7); }), "status"],
    ["unknown ListTasks flags", rawRequest(RequestType.ListTasks, (w) => w.u8("flags", 0x20)), "flags"],
    ["a list limit of 0", rawRequest(RequestType.ListTasks, (w) => { w.u8("flags", 0); w.u16("limit", 0); }), "limit"],
  ];
  for (const [what, frame, field] of cases) {
    test(`${what} -> InvalidField "${field}"`, () => {
      const err = decodeError(() => decodeRequest(frame.type, frame.body));
      expect(err.code).toBe(ErrorCode.InvalidField);
      expect(err.field).toBe(field);
      expect(err.requestId).toBe(77);
      expect(err.message.startsWith(`${field}: `)).toBe(true);
    });
  }
});

test("an error inside a batch names the task's index", () => {
  const good = { type: "t", queue: "q", payload: new Uint8Array(0), payloadIsJson: false };
  const bad = { ...good, queue: "bad queue" };
  const m: Request = { kind: "SubmitBatch", requestId: 9, tasks: [good, good, good, bad] };
  const { type, body } = bodyOf(encodeRequest(m));
  const err = decodeError(() => decodeRequest(type, body));
  expect(err.field).toBe("tasks[3].queue");
  expect(err.requestId).toBe(9);
});

test("an error inside a label list names the label's index", () => {
  const frame = rawRequest(RequestType.RegisterWorker, (w) => {
    w.str("workerId", "w");
    w.str("hostname", "h");
    w.u32("pid", 1);
    w.u16("queues", 0);
    w.u16("concurrency", 1);
    w.str("version", "v");
    w.u16("labels", 2);
    w.str("key", "a");
    w.str("value", "b");
    w.str("key", "k".repeat(300));
    w.str("value", "b");
  });
  const err = decodeError(() => decodeRequest(frame.type, frame.body));
  expect(err.field).toBe("labels[1].key");
});

test("a FailOutcome status other than failed or dead is rejected", () => {
  const { type, body } = bodyOf(encodeResponse({ kind: "FailOutcome", requestId: 1, status: "failed", retryAtMs: null, attempts: 1 }));
  body[4] = 3;
  expect(decodeError(() => decodeResponse(type, body)).field).toBe("status");
});
