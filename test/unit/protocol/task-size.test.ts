// The one-reply rule for stored tasks: sizes counted in UTF-8, text cut at a character boundary,
// and a task over the limit (stored by an earlier build) made to fit without its result.
import { describe, expect, test } from "bun:test";
import { MAX_PAYLOAD_BYTES, MAX_TASK_DATA_BYTES } from "../../../src/protocol/limits.ts";
import type { TaskInfo } from "../../../src/protocol/messages.ts";
import { encodeResponse } from "../../../src/protocol/frame-writer.ts";
import { clipUtf8, fitOneReply, taskDataBytes, utf8Bytes } from "../../../src/protocol/task-size.ts";

function task(fields: Partial<TaskInfo>): TaskInfo {
  return {
    id: "01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90", status: "completed", type: "t".repeat(255), queue: "q".repeat(128), priority: 150, attempts: 0,
    maxRetries: 3, leaseMs: 30_000, runAtMs: 1, createdAtMs: 1, updatedAtMs: 1, startedAtMs: 1, finishedAtMs: 1, leaseExpiresAtMs: 1,
    workerId: "w".repeat(128), idempotencyKey: "k".repeat(255), payloadIsJson: false, payload: new Uint8Array(0), resultIsJson: false, result: null,
    error: null, ...fields,
  };
}

describe("task size", () => {
  test("utf8Bytes and clipUtf8 count bytes and never split a character", () => {
    expect(utf8Bytes("abc")).toBe(3);
    expect(utf8Bytes("é⚠😀")).toBe(2 + 3 + 4);
    expect(clipUtf8("abcdef", 4)).toBe("abcd");
    expect(clipUtf8("aé⚠", 3)).toBe("aé");
    expect(clipUtf8("aé⚠", 5)).toBe("aé");
    expect(clipUtf8("aé⚠", 6)).toBe("aé⚠");
    expect(clipUtf8("😀😀", 7)).toBe("😀");
    expect(clipUtf8("x", 0)).toBe("");
  });

  test("a task within the limit is sent as it is, and the largest one still fits a frame", () => {
    const largest = task({ payload: new Uint8Array(MAX_PAYLOAD_BYTES), result: new Uint8Array(MAX_TASK_DATA_BYTES - MAX_PAYLOAD_BYTES) });
    expect(taskDataBytes(largest)).toBe(MAX_TASK_DATA_BYTES);
    expect(fitOneReply(largest)).toBe(largest);
    expect(() => encodeResponse({ kind: "TaskList", requestId: 1, tasks: [largest], nextCursor: "9".repeat(20) })).not.toThrow();
  });

  test("a task over the limit loses its error's tail, or its result with a note, and then encodes", () => {
    const payload = new Uint8Array(MAX_PAYLOAD_BYTES);
    const longError = fitOneReply(task({ status: "dead", payload, error: "é".repeat(40_000) }));
    expect(taskDataBytes(longError)).toBeLessThanOrEqual(MAX_TASK_DATA_BYTES);
    expect(longError.error).toBe("é".repeat((MAX_TASK_DATA_BYTES - MAX_PAYLOAD_BYTES) / 2));
    const bigResult = fitOneReply(task({ payload: new Uint8Array(9 << 20), result: new Uint8Array(9 << 20), resultIsJson: true }));
    expect(bigResult.result).toBeNull();
    expect(bigResult.resultIsJson).toBe(false);
    expect(bigResult.error).toContain(`the result (${9 << 20} bytes) is left out`);
    for (const t of [longError, bigResult]) expect(() => encodeResponse({ kind: "TaskInfo", requestId: 1, task: t })).not.toThrow();
  });
});
