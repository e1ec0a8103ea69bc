// Task <-> JSON for the REST API: snake_case fields, JSON payloads and results shown as JSON and
// opaque ones as base64, submit bodies turned into SubmitSpecs. Shapes only: every rule about a
// valid task (limits, defaults) stays in broker/submit-spec.ts.

import { jsonDeeperThan, SpecFieldError, type SpecField, type SpellField, type SubmitSpec } from "../broker/submit-spec.ts";
import { MAX_JSON_DEPTH, tierOf } from "../protocol/limits.ts";
import type { SubmitOutcome, Task } from "../rules/task.ts";
import { invalidField } from "./http-error.ts";

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/**
 * `name` (parsed JSON) when the bytes are marked JSON and parse, else `name_base64`; null stays
 * null. JSON nested past MAX_JSON_DEPTH (stored by an older build, or a worker's result) is shown
 * as bytes too: turning it back into text would overflow the stack and fail every read of the task.
 */
function bytesField(name: string, bytes: Uint8Array | null, isJson: boolean): Record<string, unknown> {
  if (bytes === null) return { [name]: null };
  if (isJson && !jsonDeeperThan(bytes, MAX_JSON_DEPTH)) {
    try {
      return { [name]: JSON.parse(decoder.decode(bytes)) };
    } catch {
      // Marked JSON by a client that sent something else: show the bytes rather than fail the read.
    }
  }
  return { [`${name}_base64`]: Buffer.from(bytes).toString("base64") };
}

export interface TaskJsonOptions {
  /** Lists leave payload and result out (a page of 1000 large payloads is not a listing); their sizes stay. */
  bodies: boolean;
}

export function taskJson(task: Task, options: TaskJsonOptions = { bodies: true }): Record<string, unknown> {
  const head: Record<string, unknown> = {
    id: task.id,
    type: task.type,
    queue: task.queue,
    status: task.status,
    priority: task.priority,
    priority_tier: tierOf(task.priority),
    attempts: task.attempts,
    max_retries: task.maxRetries,
    lease_ms: task.leaseMs,
    run_at_ms: task.runAtMs,
    created_at_ms: task.createdAtMs,
    updated_at_ms: task.updatedAtMs,
    started_at_ms: task.startedAtMs,
    finished_at_ms: task.finishedAtMs,
    lease_expires_at_ms: task.leaseExpiresAtMs,
    worker_id: task.workerId,
    idempotency_key: task.idempotencyKey,
    error: task.error,
    payload_is_json: task.payloadIsJson,
    payload_bytes: task.payload.byteLength,
    result_is_json: task.resultIsJson,
    result_bytes: task.result?.byteLength ?? null,
  };
  if (!options.bodies) return head;
  return { ...head, ...bytesField("payload", task.payload, task.payloadIsJson), ...bytesField("result", task.result, task.resultIsJson) };
}

export function submitOutcomeJson(outcome: SubmitOutcome): Record<string, unknown> {
  return { id: outcome.id, status: outcome.status, duplicate: outcome.duplicate };
}

/**
 * The JSON name of each SubmitSpec field: the one table the submit parser reads bodies with and
 * the broker's field errors are re-spelled with, so a REST client sees `run_at_ms`, not `runAtMs`.
 */
const JSON_NAME: Readonly<Record<SpecField, string>> = {
  type: "type",
  queue: "queue",
  payload: "payload",
  payloadIsJson: "payload",
  priority: "priority",
  runAtMs: "run_at_ms",
  delayMs: "delay_ms",
  maxRetries: "max_retries",
  leaseMs: "lease_ms",
  idempotencyKey: "idempotency_key",
};

export const jsonFieldName: SpellField = (field) => JSON_NAME[field];

/** A broker error about a submitted field, named as the REST client wrote it; anything else as it is. */
export function inJsonNames(err: unknown): unknown {
  return err instanceof SpecFieldError ? err.spelled(jsonFieldName) : err;
}

/** Fields a submitted task object may carry; anything else is refused so a typo is not silently ignored. */
export const SUBMIT_FIELDS = [
  "type",
  "queue",
  "payload",
  "payload_base64",
  "priority",
  "run_at_ms",
  "delay_ms",
  "max_retries",
  "lease_ms",
  "idempotency_key",
] as const;
const KNOWN = new Set<string>(SUBMIT_FIELDS);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function optionalNumber(obj: Record<string, unknown>, key: string, prefix: string): number | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number") throw invalidField(`${prefix}${key}`, `expected an integer, got ${JSON.stringify(value)}`);
  return value;
}

function optionalString(obj: Record<string, unknown>, key: string, prefix: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalidField(`${prefix}${key}`, `expected a string, got ${JSON.stringify(value)}`);
  return value;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function payloadOf(obj: Record<string, unknown>, prefix: string): { payload: Uint8Array; payloadIsJson: boolean } {
  const hasJson = obj.payload !== undefined;
  const hasBase64 = obj.payload_base64 !== undefined;
  if (hasJson && hasBase64) throw invalidField(`${prefix}payload`, "give payload (JSON) or payload_base64 (bytes), not both");
  if (hasBase64) {
    const text = obj.payload_base64;
    if (typeof text !== "string" || text.length % 4 !== 0 || !BASE64.test(text)) {
      throw invalidField(`${prefix}payload_base64`, "expected standard base64 (A-Z a-z 0-9 + /, padded with =)");
    }
    return { payload: new Uint8Array(Buffer.from(text, "base64")), payloadIsJson: false };
  }
  if (hasJson) return { payload: encoder.encode(JSON.stringify(obj.payload)), payloadIsJson: true };
  return { payload: new Uint8Array(0), payloadIsJson: false };
}

/** One task object of a submit body -> SubmitSpec; `prefix` names its place in a batch ("tasks[3]."). */
export function parseSubmitTask(value: unknown, prefix = ""): SubmitSpec {
  if (!isObject(value)) throw invalidField(prefix === "" ? "body" : prefix.slice(0, -1), "expected a task object {\"type\": ...}");
  for (const key of Object.keys(value)) {
    if (!KNOWN.has(key)) throw invalidField(`${prefix}${key}`, `unknown field; a task takes ${SUBMIT_FIELDS.join(", ")}`);
  }
  const type = value.type;
  if (typeof type !== "string") throw invalidField(`${prefix}type`, `expected a non-empty string, got ${JSON.stringify(type ?? null)}`);
  const priority = value.priority;
  if (priority !== undefined && priority !== null && typeof priority !== "number" && typeof priority !== "string") {
    throw invalidField(`${prefix}priority`, `expected "high", "normal", "low" or an integer 0-255, got ${JSON.stringify(priority)}`);
  }
  const delayMs = optionalNumber(value, JSON_NAME.delayMs, prefix);
  // The broker checks the upper bound; a negative or fractional delay is refused here under its own name.
  if (delayMs !== undefined && (!Number.isInteger(delayMs) || delayMs < 0)) {
    throw invalidField(`${prefix}${JSON_NAME.delayMs}`, `expected an integer >= 0, got ${delayMs}`);
  }
  const spec: SubmitSpec = { type, ...payloadOf(value, prefix) };
  const queue = optionalString(value, JSON_NAME.queue, prefix);
  if (queue !== undefined) spec.queue = queue;
  if (priority !== undefined && priority !== null) spec.priority = priority;
  const runAtMs = optionalNumber(value, JSON_NAME.runAtMs, prefix);
  if (runAtMs !== undefined) spec.runAtMs = runAtMs;
  if (delayMs !== undefined) spec.delayMs = delayMs;
  const maxRetries = optionalNumber(value, JSON_NAME.maxRetries, prefix);
  if (maxRetries !== undefined) spec.maxRetries = maxRetries;
  const leaseMs = optionalNumber(value, JSON_NAME.leaseMs, prefix);
  if (leaseMs !== undefined) spec.leaseMs = leaseMs;
  const key = optionalString(value, JSON_NAME.idempotencyKey, prefix);
  if (key !== undefined) spec.idempotencyKey = key;
  return spec;
}

/** A submit body: one task object, or {tasks: [...]}. `batch` tells the reply shape. */
export function parseSubmitBody(body: unknown): { specs: SubmitSpec[]; batch: boolean } {
  if (isObject(body) && "tasks" in body) {
    const tasks = body.tasks;
    if (!Array.isArray(tasks)) throw invalidField("tasks", "expected an array of task objects");
    const extra = Object.keys(body).filter((k) => k !== "tasks");
    if (extra.length > 0) throw invalidField(extra[0]!, "unknown field next to tasks; a batch body is {\"tasks\": [...]} only");
    return { specs: tasks.map((t, i) => parseSubmitTask(t, `tasks[${i}].`)), batch: true };
  }
  return { specs: [parseSubmitTask(body)], batch: false };
}
