// BrokerError <-> Error frame: the code, field and retry hint survive the trip; anything else
// thrown becomes Internal; a code this build does not know becomes Internal on the client.

import { expect, test } from "bun:test";
import { brokerErrorFrom, errorResponse } from "../../../src/protocol/error-response.ts";
import { BrokerError, ErrorCode } from "../../../src/protocol/errors.ts";
import { encodeResponse } from "../../../src/protocol/frame-writer.ts";
import { decodeResponse } from "../../../src/protocol/response-codec.ts";

function viaWire(requestId: number, err: unknown): BrokerError {
  const frame = encodeResponse(errorResponse(requestId, err));
  const m = decodeResponse(frame[4]!, frame.subarray(5));
  if (m.kind !== "Error") throw new Error(`expected Error, got ${m.kind}`);
  expect(m.requestId).toBe(requestId);
  return brokerErrorFrom(m);
}

test("code, field, message and retry hint survive the wire", () => {
  const e = viaWire(7, new BrokerError(ErrorCode.QueueFull, "queue full: 100000 pending", { field: "queue", retryAfterMs: 250 }));
  expect(e.code).toBe(ErrorCode.QueueFull);
  expect(e.field).toBe("queue");
  expect(e.retryAfterMs).toBe(250);
  expect(e.message).toBe("queue full: 100000 pending");
  expect(e.spec.retryable).toBe(true);
});

test("absent field and hint stay absent", () => {
  const e = viaWire(1, new BrokerError(ErrorCode.NotFound, "no task x"));
  expect(e.field).toBeUndefined();
  expect(e.retryAfterMs).toBeUndefined();
});

test("anything that is not a BrokerError is sent as Internal without its text", () => {
  const e = viaWire(2, new TypeError("secret internals"));
  expect(e.code).toBe(ErrorCode.Internal);
  expect(e.message).not.toContain("secret");
});

test("a huge message is clipped so the frame stays small", () => {
  const m = errorResponse(3, new BrokerError(ErrorCode.InvalidField, "x".repeat(100_000), { field: "y".repeat(100_000) }));
  expect(m.message.length).toBeLessThanOrEqual(1000);
  expect(m.field.length).toBeLessThanOrEqual(200);
  expect(encodeResponse(m).length).toBeLessThan(2000);
});

test("a code unknown to this build becomes Internal and keeps the number in the message", () => {
  const e = brokerErrorFrom({ kind: "Error", requestId: 1, code: 999, retryAfterMs: 0, field: "", message: "from the future" });
  expect(e.code).toBe(ErrorCode.Internal);
  expect(e.message).toContain("999");
});
