// Reads what a request carries — a JSON body, integer and enum query parameters, ids in the path —
// into typed values, or an InvalidField error naming the parameter and the value. No broker calls.

import { jsonDeeperThan } from "../broker/submit-spec.ts";
import { MAX_JSON_DEPTH } from "../protocol/limits.ts";
import { isUuid } from "../protocol/uuid.ts";
import { TASK_STATUSES } from "../rules/task.ts";
import type { TaskFilter } from "../broker/broker-types.ts";
import type { ParamDoc } from "./route.ts";
import { invalidField } from "./http-error.ts";

/** Levels a submit body wraps around a payload: {"tasks": [{"payload": ...}]}. */
const BODY_LEVELS_AROUND_PAYLOAD = 3;
const decoder = new TextDecoder();

/**
 * The body parsed as JSON; an empty or malformed body is an InvalidField error on "body". Only a
 * task's payload holds free-form JSON, so a body nested deeper than a payload may be is refused on
 * "payload" before it is parsed: turning such a value back into text (JSON.stringify) would hold
 * the event loop for seconds before overflowing the stack.
 */
export async function readJson(request: Request): Promise<unknown> {
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (jsonDeeperThan(bytes, MAX_JSON_DEPTH + BODY_LEVELS_AROUND_PAYLOAD)) {
    throw invalidField("payload", `JSON nested more than ${MAX_JSON_DEPTH} levels deep (the limit); flatten it, or send it as bytes (payload_base64)`);
  }
  const text = decoder.decode(bytes);
  if (text.trim() === "") throw invalidField("body", "expected a JSON body, got an empty one");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalidField("body", `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

export function intParam(query: URLSearchParams, name: string, min: number, max: number, fallback: number): number {
  const raw = query.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^-?\d+$/.test(raw)) throw invalidField(name, `expected an integer ${min}-${max}, got ${JSON.stringify(raw)}`);
  const value = Number(raw);
  if (value < min || value > max) throw invalidField(name, `expected an integer ${min}-${max}, got ${value}`);
  return value;
}

export function enumParam<const T extends string>(query: URLSearchParams, name: string, values: readonly T[]): T | undefined {
  const raw = query.get(name);
  if (raw === null || raw === "") return undefined;
  if (!(values as readonly string[]).includes(raw)) {
    throw invalidField(name, `expected one of ${values.join(", ")}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}

export function stringParam(query: URLSearchParams, name: string): string | undefined {
  const raw = query.get(name);
  return raw === null || raw === "" ? undefined : raw;
}

/** Task ids are UUIDs; anything else is refused before the store is asked. */
export function taskIdParam(params: Readonly<Record<string, string>>): string {
  const id = params.id ?? "";
  if (!isUuid(id)) throw invalidField("id", `expected a task id (UUID), got ${JSON.stringify(id)}`);
  return id.toLowerCase();
}

/** Longest age an older_than_ms filter takes: ten years. */
const MAX_AGE_MS = 10 * 365 * 86_400_000;

/** The query parameters of a task filter (lists and bulk actions take the same ones). */
export const FILTER_PARAMS: readonly ParamDoc[] = [
  { name: "status", description: "Only tasks in this status.", schema: { type: "string", enum: [...TASK_STATUSES] } },
  { name: "queue", description: "Only tasks of this queue.", schema: { type: "string" } },
  { name: "type", description: "Only tasks of this type.", schema: { type: "string" } },
  { name: "idempotency_key", description: "Only the task submitted with this idempotency key.", schema: { type: "string" } },
  { name: "worker_id", description: "Only tasks this worker runs now or ran last.", schema: { type: "string" } },
  { name: "older_than_ms", description: "Only tasks last changed more than this many ms ago (a finished task: finished that long ago).", schema: { type: "integer", minimum: 0 } },
];

/** A task filter from query parameters (or a JSON body's fields, as strings). */
export function filterParams(query: URLSearchParams, nowMs: number): TaskFilter {
  const filter: TaskFilter = {};
  const status = enumParam(query, "status", TASK_STATUSES);
  if (status !== undefined) filter.status = status;
  for (const [name, key] of [["queue", "queue"], ["type", "type"], ["idempotency_key", "idempotencyKey"], ["worker_id", "workerId"]] as const) {
    const value = stringParam(query, name);
    if (value !== undefined) filter[key] = value;
  }
  if (query.get("older_than_ms") !== null && query.get("older_than_ms") !== "") filter.updatedBeforeMs = nowMs - intParam(query, "older_than_ms", 0, MAX_AGE_MS, 0);
  return filter;
}
