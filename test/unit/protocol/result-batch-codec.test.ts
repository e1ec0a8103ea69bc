// TaskResultBatch / ResultBatchOutcome on their own: items are TaskResult's layout byte for byte,
// frames split at every offset decode the same, counts outside 1..MAX_RESULT_BATCH and truncated
// or invalid items are InvalidField naming the item, and the limits hold at their edges.

import { describe, expect, test } from "bun:test";
import { ByteWriter } from "../../../src/protocol/byte-writer.ts";
import { ErrorCode } from "../../../src/protocol/errors.ts";
import { FrameDecoder } from "../../../src/protocol/frame-decoder.ts";
import { encodeRequest, encodeResponse } from "../../../src/protocol/frame-writer.ts";
import { MAX_FRAME_BYTES, MAX_RESULT_BATCH, MAX_RESULT_BYTES } from "../../../src/protocol/limits.ts";
import { RequestType, ResponseType } from "../../../src/protocol/message-types.ts";
import type { ResultEntry, TaskResultItem } from "../../../src/protocol/messages.ts";
import { ProtocolError } from "../../../src/protocol/protocol-error.ts";
import { decodeRequest } from "../../../src/protocol/request-codec.ts";
import { decodeResponse } from "../../../src/protocol/response-codec.ts";
import { REQUEST_SAMPLES, RESPONSE_SAMPLES, TASK_ID, TASK_ID_2 } from "./sample-messages.ts";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

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

/** The frame decoded after being pushed in two pieces, for every split offset. */
function splitEverywhere(frame: Uint8Array): { type: number; body: Uint8Array }[] {
  const out = [];
  for (let at = 0; at <= frame.length; at++) {
    const d = new FrameDecoder();
    d.push(frame.subarray(0, at));
    const early = d.next();
    d.push(frame.subarray(at));
    const f = early ?? d.next();
    expect(f).not.toBeNull();
    out.push(f!);
  }
  return out;
}

function item(i: number): TaskResultItem {
  const id = `01936f0e-7a3c-7d21-9b4e-${i.toString(16).padStart(12, "0")}`;
  return i % 3 === 0
    ? { id, token: i, outcome: "completed", resultIsJson: true, result: text(`{"n":${i}}`), error: "" }
    : { id, token: i, outcome: i % 3 === 1 ? "failed" : "unrecoverable", resultIsJson: false, result: new Uint8Array(0), error: `boom ${i}` };
}

/** A batch body with `count` announced and the given items written with TaskResult's layout. */
function rawBatch(count: number, items: readonly TaskResultItem[]): Uint8Array {
  const w = new ByteWriter(256);
  w.u32("requestId", 9);
  w.u16("results", count);
  for (const it of items) {
    // Each item alone as a TaskResult body (without its request id): the layouts must be one.
    const single = bodyOf(encodeRequest({ kind: "TaskResult", requestId: 0, ...it })).body.subarray(4);
    w.ensure(single.length);
    w.buf.set(single, w.pos);
    w.pos += single.length;
  }
  return w.buf.slice(0, w.pos);
}

describe("TaskResultBatch", () => {
  test("each item is exactly a TaskResult body after its request id", () => {
    const items = [item(0), item(1), item(2)];
    const viaBatch = bodyOf(encodeRequest({ kind: "TaskResultBatch", requestId: 9, results: items })).body;
    expect(viaBatch).toEqual(rawBatch(items.length, items));
  });

  test("a frame split in two at every offset decodes to the same batch", () => {
    for (const m of REQUEST_SAMPLES.TaskResultBatch) {
      const frame = encodeRequest(m);
      for (const f of splitEverywhere(frame)) {
        expect(f.type).toBe(RequestType.TaskResultBatch);
        expect(decodeRequest(f.type, f.body)).toEqual(m);
      }
    }
  });

  test(`${MAX_RESULT_BATCH} results round-trip; ${MAX_RESULT_BATCH + 1} are refused by count`, () => {
    const results = Array.from({ length: MAX_RESULT_BATCH }, (_, i) => item(i));
    const { type, body } = bodyOf(encodeRequest({ kind: "TaskResultBatch", requestId: 1, results }));
    expect(decodeRequest(type, body)).toEqual({ kind: "TaskResultBatch", requestId: 1, results });
    const over = bodyOf(encodeRequest({ kind: "TaskResultBatch", requestId: 2, results: [...results, item(MAX_RESULT_BATCH)] }));
    const err = decodeError(() => decodeRequest(over.type, over.body));
    expect(err.code).toBe(ErrorCode.InvalidField);
    expect(err.field).toBe("results");
    expect(err.requestId).toBe(2);
  });

  test("a count of 0 is refused", () => {
    const err = decodeError(() => decodeRequest(RequestType.TaskResultBatch, rawBatch(0, [])));
    expect(err.code).toBe(ErrorCode.InvalidField);
    expect(err.field).toBe("results");
    expect(err.message).toContain("at least one");
  });

  test("a count above the items sent is truncation, caught before any item is read when the bytes cannot hold it", () => {
    const tooMany = decodeError(() => decodeRequest(RequestType.TaskResultBatch, rawBatch(500, [item(1)])));
    expect(tooMany.field).toBe("results");
    expect(tooMany.message).toContain("truncated");
    const oneShort = decodeError(() => decodeRequest(RequestType.TaskResultBatch, rawBatch(3, [item(0), item(1)])));
    expect(oneShort.code).toBe(ErrorCode.InvalidField);
    expect(oneShort.field).toMatch(/^results(\[2\]\.id)?$/);
  });

  test("a count below the items sent leaves trailing bytes, refused", () => {
    const err = decodeError(() => decodeRequest(RequestType.TaskResultBatch, rawBatch(1, [item(0), item(1)])));
    expect(err.field).toBe("body");
  });

  test("a bad field inside an item names the item", () => {
    const body = rawBatch(2, [item(0), item(1)]);
    // The second item's outcome byte: requestId 4 + count 2 + first item, then id 16 + token 4.
    const first = bodyOf(encodeRequest({ kind: "TaskResult", requestId: 0, ...item(0) })).body.length - 4;
    body[4 + 2 + first + 20] = 3;
    const err = decodeError(() => decodeRequest(RequestType.TaskResultBatch, body));
    expect(err.field).toBe("results[1].outcome");
    expect(err.requestId).toBe(9);
  });

  test("one item with the largest result fits one frame", () => {
    const result = new Uint8Array(MAX_RESULT_BYTES);
    result[MAX_RESULT_BYTES - 1] = 7;
    const frame = encodeRequest({
      kind: "TaskResultBatch",
      requestId: 3,
      results: [{ id: TASK_ID, token: 1, outcome: "completed", resultIsJson: false, result, error: "" }],
    });
    expect(frame.length - 4).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    const { type, body } = bodyOf(frame);
    const m = decodeRequest(type, body);
    expect(m.kind).toBe("TaskResultBatch");
    if (m.kind === "TaskResultBatch") expect(m.results[0]!.result[MAX_RESULT_BYTES - 1]).toBe(7);
  });
});

describe("ResultBatchOutcome", () => {
  test("a frame split in two at every offset decodes to the same entries", () => {
    for (const m of RESPONSE_SAMPLES.ResultBatchOutcome) {
      const frame = encodeResponse(m);
      for (const f of splitEverywhere(frame)) {
        expect(f.type).toBe(ResponseType.ResultBatchOutcome);
        expect(decodeResponse(f.type, f.body)).toEqual(m);
      }
    }
  });

  test("a fail entry is FailOutcome's fields and an error entry is the Error frame's, byte for byte", () => {
    const fail = bodyOf(encodeResponse({ kind: "FailOutcome", requestId: 1, status: "dead", retryAtMs: null, attempts: 4 })).body.subarray(4);
    const error = bodyOf(encodeResponse({ kind: "Error", requestId: 1, code: 10, retryAfterMs: 5, field: "token", message: "stale" })).body.subarray(4);
    const batch = bodyOf(
      encodeResponse({
        kind: "ResultBatchOutcome",
        requestId: 1,
        entries: [
          { entry: "fail", status: "dead", retryAtMs: null, attempts: 4 },
          { entry: "error", code: 10, retryAfterMs: 5, field: "token", message: "stale" },
        ],
      }),
    ).body;
    expect([...batch.subarray(4)]).toEqual([0, 2, 1, ...fail, 2, ...error]);
  });

  test(`${MAX_RESULT_BATCH} mixed entries round-trip`, () => {
    const entries: ResultEntry[] = Array.from({ length: MAX_RESULT_BATCH }, (_, i): ResultEntry => {
      if (i % 3 === 0) return { entry: "ok" };
      if (i % 3 === 1) return { entry: "fail", status: "failed", retryAtMs: 1_733_000_000_000 + i, attempts: i };
      return { entry: "error", code: 8, retryAfterMs: 0, field: "id", message: `no task ${TASK_ID_2}` };
    });
    const { type, body } = bodyOf(encodeResponse({ kind: "ResultBatchOutcome", requestId: 4, entries }));
    expect(decodeResponse(type, body)).toEqual({ kind: "ResultBatchOutcome", requestId: 4, entries });
  });

  test("an unknown entry tag and a fail entry whose status is not failed/dead are refused, naming the entry", () => {
    const w = new ByteWriter(64);
    w.u32("requestId", 5);
    w.u16("entries", 2);
    w.u8("entry", 0);
    w.u8("entry", 3);
    const badTag = decodeError(() => decodeResponse(ResponseType.ResultBatchOutcome, w.buf.slice(0, w.pos)));
    expect(badTag.field).toBe("entries[1].entry");

    const v = new ByteWriter(64);
    v.u32("requestId", 5);
    v.u16("entries", 1);
    v.u8("entry", 1);
    v.u8("status", 3);
    v.u64("retryAtMs", 0);
    v.u16("attempts", 1);
    const badStatus = decodeError(() => decodeResponse(ResponseType.ResultBatchOutcome, v.buf.slice(0, v.pos)));
    expect(badStatus.field).toBe("entries[0].status");
  });

  test("more entries announced than bytes sent is truncation", () => {
    const w = new ByteWriter(64);
    w.u32("requestId", 5);
    w.u16("entries", 10);
    w.u8("entry", 0);
    const err = decodeError(() => decodeResponse(ResponseType.ResultBatchOutcome, w.buf.slice(0, w.pos)));
    expect(err.field).toBe("entries");
    expect(err.message).toContain("truncated");
  });
});
