// Reads what a request carries — a JSON body, integer and enum query parameters, ids in the path —
// into typed values, or an InvalidField error naming the parameter and the value. No broker calls.

import { jsonDeeperThan } from "../broker/submit-spec.ts";
import { MAX_JSON_DEPTH } from "../protocol/limits.ts";
import { isUuid } from "../protocol/uuid.ts";
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
