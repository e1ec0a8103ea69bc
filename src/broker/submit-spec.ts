// Turns what a client asked for (TCP or HTTP) into a NewTask: checks every field against the
// limits, fills the broker's defaults. Every queue rule about a task's shape lives here, once;
// its errors name fields canonically, and each front door spells them its own way (SpecFieldError).

import { BrokerError, ErrorCode } from "../protocol/errors.ts";
import {
  DEFAULT_PRIORITY,
  MAX_IDEMPOTENCY_KEY_BYTES,
  MAX_JSON_DEPTH,
  MAX_LEASE_MS,
  MAX_PAYLOAD_BYTES,
  MAX_RETRIES_LIMIT,
  MAX_TYPE_BYTES,
  MIN_LEASE_MS,
  QUEUE_NAME_PATTERN,
} from "../protocol/limits.ts";
import { parsePriority } from "../rules/priority.ts";
import type { NewTask } from "../rules/task.ts";

/** A task as a client describes it; absent fields take the broker's defaults. */
export interface SubmitSpec {
  type: string;
  queue?: string;
  payload?: Uint8Array;
  payloadIsJson?: boolean;
  /** 0-255 or a tier name: "high", "normal", "low". */
  priority?: number | string;
  /** Epoch ms before which the task is not claimable. */
  runAtMs?: number;
  /** Alternative to runAtMs: ms from now. */
  delayMs?: number;
  maxRetries?: number;
  leaseMs?: number;
  idempotencyKey?: string;
}

export interface SubmitDefaults {
  leaseMs: number;
  maxRetries: number;
}

export const DEFAULT_QUEUE = "default";

/** A field of a submitted task by its canonical id: its SubmitSpec name, which the TCP protocol's TaskSpec uses too. */
export type SpecField = keyof SubmitSpec;

/** How a front door spells a field in its requests (TCP: as SubmitSpec does; REST: snake_case). */
export type SpellField = (field: SpecField) => string;

const CANONICAL: SpellField = (field) => field;

/**
 * A submitted field out of its limits, as the message and `field` of an InvalidField. Thrown with
 * the canonical names, which are the TCP protocol's; a door whose names differ answers
 * `spelled(itsNames)` instead, so the error names the field as that door's client wrote it
 * (`runAtMs` over TCP, `run_at_ms` over REST). `describe` gets the spelling too, for messages that
 * name a second field.
 */
export class SpecFieldError extends BrokerError {
  constructor(
    private readonly prefix: string,
    readonly specField: SpecField,
    private readonly describe: (spell: SpellField) => string,
  ) {
    super(ErrorCode.InvalidField, `${prefix}${specField}: ${describe(CANONICAL)}`, { field: `${prefix}${specField}` });
  }

  /** The same error with the field named by `spell`. */
  spelled(spell: SpellField): BrokerError {
    const field = `${this.prefix}${spell(this.specField)}`;
    return new BrokerError(ErrorCode.InvalidField, `${field}: ${this.describe(spell)}`, { field });
  }
}

function invalid(field: string, message: string): BrokerError {
  return new BrokerError(ErrorCode.InvalidField, `${field}: ${message}`, { field });
}

function checkInteger(prefix: string, field: SpecField, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new SpecFieldError(prefix, field, () => `expected an integer ${min}-${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * True when the JSON text in `bytes` nests arrays and objects more than `limit` deep (brackets
 * inside strings do not count). Most payloads hold fewer opening brackets than the limit in all,
 * which a native search counts at memory speed; only the others are walked byte by byte.
 */
export function jsonDeeperThan(bytes: Uint8Array, limit: number): boolean {
  if (bytes.byteLength <= limit) return false;
  let opens = 0;
  for (const bracket of [0x5b, 0x7b]) {
    for (let at = bytes.indexOf(bracket); at !== -1 && opens <= limit; at = bytes.indexOf(bracket, at + 1)) opens++;
  }
  if (opens <= limit) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.byteLength; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next byte is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

export function checkQueueName(field: string, queue: string): string {
  if (!QUEUE_NAME_PATTERN.test(queue)) {
    throw invalid(field, `expected 1-128 characters of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(queue)}`);
  }
  return queue;
}

/**
 * Validates one spec; `prefix` names its place in a batch in errors ("tasks[3]."), which throw
 * SpecFieldError with the canonical field names.
 */
export function toNewTask(spec: SubmitSpec, defaults: SubmitDefaults, nowMs: number, prefix = ""): NewTask {
  if (typeof spec.type !== "string" || spec.type.length === 0) {
    throw new SpecFieldError(prefix, "type", () => `expected a non-empty task type, got ${JSON.stringify(spec.type)}`);
  }
  if (utf8Length(spec.type) > MAX_TYPE_BYTES) {
    throw new SpecFieldError(prefix, "type", () => `longer than ${MAX_TYPE_BYTES} bytes`);
  }
  const queue = spec.queue === undefined || spec.queue === "" ? DEFAULT_QUEUE : checkQueueName(`${prefix}queue`, spec.queue);
  const payload = spec.payload ?? new Uint8Array(0);
  if (payload.byteLength > MAX_PAYLOAD_BYTES) {
    throw new SpecFieldError(prefix, "payload", () => `${payload.byteLength} bytes is over the ${MAX_PAYLOAD_BYTES}-byte limit`);
  }
  if (spec.payloadIsJson === true && jsonDeeperThan(payload, MAX_JSON_DEPTH)) {
    throw new SpecFieldError(
      prefix,
      "payload",
      () => `JSON nested more than ${MAX_JSON_DEPTH} levels deep (the limit); flatten it, or send it as bytes (not marked JSON)`,
    );
  }
  const priority = spec.priority === undefined ? DEFAULT_PRIORITY : parsePriority(spec.priority, `${prefix}priority`);
  let runAtMs: number | null = null;
  if (spec.runAtMs !== undefined && spec.delayMs !== undefined) {
    throw new SpecFieldError(prefix, "runAtMs", (spell) => `give ${spell("runAtMs")} or ${spell("delayMs")}, not both`);
  }
  if (spec.runAtMs !== undefined) {
    runAtMs = checkInteger(prefix, "runAtMs", spec.runAtMs, 0, 8.64e15);
  } else if (spec.delayMs !== undefined) {
    runAtMs = nowMs + checkInteger(prefix, "delayMs", spec.delayMs, 0, 10 * 365 * 86_400_000);
  }
  if (runAtMs !== null && runAtMs <= nowMs) runAtMs = null;
  const maxRetries = spec.maxRetries === undefined ? defaults.maxRetries : checkInteger(prefix, "maxRetries", spec.maxRetries, 0, MAX_RETRIES_LIMIT);
  const leaseMs = spec.leaseMs === undefined ? defaults.leaseMs : checkInteger(prefix, "leaseMs", spec.leaseMs, MIN_LEASE_MS, MAX_LEASE_MS);
  let idempotencyKey: string | null = null;
  if (spec.idempotencyKey !== undefined && spec.idempotencyKey !== "") {
    if (utf8Length(spec.idempotencyKey) > MAX_IDEMPOTENCY_KEY_BYTES) {
      throw new SpecFieldError(prefix, "idempotencyKey", () => `longer than ${MAX_IDEMPOTENCY_KEY_BYTES} bytes`);
    }
    idempotencyKey = spec.idempotencyKey;
  }
  return {
    type: spec.type,
    queue,
    payload,
    payloadIsJson: spec.payloadIsJson ?? false,
    priority,
    runAtMs,
    maxRetries,
    leaseMs,
    idempotencyKey,
  };
}
