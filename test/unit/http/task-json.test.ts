// Task <-> JSON without a server: submit bodies into SubmitSpecs (JSON and base64 payloads, batch
// prefixes, unknown fields), and tasks rendered with JSON or base64 bodies.
import { expect, test } from "bun:test";
import type { SpecField } from "../../../src/broker/submit-spec.ts";
import { BrokerError } from "../../../src/protocol/errors.ts";
import { jsonFieldName, parseSubmitBody, parseSubmitTask, SUBMIT_FIELDS, taskJson } from "../../../src/http/task-json.ts";
import type { Task } from "../../../src/rules/task.ts";

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof BrokerError) return err.field;
    throw err;
  }
  throw new Error("expected a BrokerError");
}

test("a JSON payload is stored as its UTF-8 JSON text and marked JSON", () => {
  const spec = parseSubmitTask({ type: "t", payload: { a: "é" }, priority: "low", delay_ms: 5, max_retries: 2, lease_ms: 500, idempotency_key: "k", queue: "q" });
  expect(new TextDecoder().decode(spec.payload)).toBe('{"a":"é"}');
  expect(spec).toMatchObject({ type: "t", payloadIsJson: true, priority: "low", delayMs: 5, maxRetries: 2, leaseMs: 500, idempotencyKey: "k", queue: "q" });
  // null is a JSON payload too, distinct from no payload.
  expect(parseSubmitTask({ type: "t", payload: null }).payloadIsJson).toBe(true);
  expect(parseSubmitTask({ type: "t" })).toEqual({ type: "t", payload: new Uint8Array(0), payloadIsJson: false });
});

test("payload_base64 is decoded to bytes; malformed base64 is refused", () => {
  expect([...(parseSubmitTask({ type: "t", payload_base64: "AP8=" }).payload ?? [])]).toEqual([0, 255]);
  expect(fieldOf(() => parseSubmitTask({ type: "t", payload_base64: "AP8" }))).toBe("payload_base64");
  expect(fieldOf(() => parseSubmitTask({ type: "t", payload_base64: 5 }))).toBe("payload_base64");
});

test("wrong shapes name the field, with the batch index", () => {
  expect(fieldOf(() => parseSubmitTask([]))).toBe("body");
  expect(fieldOf(() => parseSubmitTask({ type: 1 }))).toBe("type");
  expect(fieldOf(() => parseSubmitTask({ type: "t", queue: 3 }))).toBe("queue");
  expect(fieldOf(() => parseSubmitTask({ type: "t", run_at_ms: "soon" }))).toBe("run_at_ms");
  expect(fieldOf(() => parseSubmitTask({ type: "t", priority: true }))).toBe("priority");
  expect(fieldOf(() => parseSubmitTask({ type: "t", delay_ms: 1.5 }))).toBe("delay_ms");
  expect(fieldOf(() => parseSubmitBody({ tasks: [{ type: "a" }, "b"] }))).toBe("tasks[1]");
  expect(fieldOf(() => parseSubmitBody({ tasks: [{ type: "a", colour: 1 }] }))).toBe("tasks[0].colour");
  expect(fieldOf(() => parseSubmitBody({ tasks: {} }))).toBe("tasks");
  expect(fieldOf(() => parseSubmitBody({ tasks: [], extra: 1 }))).toBe("extra");
});

test("a batch body and a single body are told apart", () => {
  expect(parseSubmitBody({ tasks: [{ type: "a" }, { type: "b" }] }).batch).toBe(true);
  expect(parseSubmitBody({ type: "a" }).batch).toBe(false);
});

const base: Task = {
  id: "0190a5a0-0000-7000-8000-00000000abcd",
  type: "t",
  queue: "q",
  payload: new TextEncoder().encode("[1,2]"),
  payloadIsJson: true,
  priority: 210,
  runAtMs: null,
  maxRetries: 3,
  leaseMs: 30_000,
  idempotencyKey: null,
  status: "completed",
  attempts: 1,
  result: new Uint8Array([1, 2, 3]),
  resultIsJson: false,
  error: null,
  workerId: "w",
  createdAtMs: 1,
  updatedAtMs: 2,
  startedAtMs: 3,
  finishedAtMs: 4,
  leaseExpiresAtMs: null,
};

test("JSON bodies render as JSON, opaque ones as base64, with sizes and the tier", () => {
  const json = taskJson(base);
  expect(json).toMatchObject({ payload: [1, 2], result_base64: "AQID", priority_tier: "high", payload_bytes: 5, result_bytes: 3, max_retries: 3, worker_id: "w" });
  expect(json).not.toHaveProperty("result");
  expect(json).not.toHaveProperty("payload_base64");
});

test("bytes marked JSON that do not parse fall back to base64; listings leave bodies out", () => {
  const broken = taskJson({ ...base, payload: new Uint8Array([0xff]) });
  expect(broken.payload_base64).toBe("/w==");
  const listed = taskJson(base, { bodies: false });
  expect(listed).not.toHaveProperty("payload");
  expect(listed).not.toHaveProperty("result_base64");
  expect(listed.payload_bytes).toBe(5);
  expect(taskJson({ ...base, result: null }).result).toBeNull();
});

test("every field a submit error can name has a JSON name the parser takes", () => {
  // A Record over SpecField: a SubmitSpec field added without a line here is a type error.
  const fields: Record<SpecField, true> = { type: true, queue: true, payload: true, payloadIsJson: true, priority: true, runAtMs: true, delayMs: true, maxRetries: true, leaseMs: true, idempotencyKey: true };
  for (const field of Object.keys(fields) as SpecField[]) expect(SUBMIT_FIELDS as readonly string[]).toContain(jsonFieldName(field));
  expect(jsonFieldName("runAtMs")).toBe("run_at_ms");
});
