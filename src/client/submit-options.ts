// submit()'s options and their translation into the wire's TaskSpec: tier names to priorities,
// Date/delay to runAtMs, payload to bytes. Checks what the client can know alone (types and
// ranges) so a mistake fails before a round trip; the broker checks the rest. Pure.

import { ErrorCode } from "../protocol/errors.ts";
import { MAX_PRIORITY, MIN_PRIORITY, PRIORITY_TIERS, type PriorityTier } from "../protocol/limits.ts";
import type { TaskSpec } from "../protocol/messages.ts";
import { encodeValue } from "./payload.ts";
import { InvalidFieldError } from "./tq-error.ts";

export interface SubmitOptions {
  /** Queue name. Default "default". */
  queue?: string;
  /** 0-255 (higher runs first) or a tier: "high" = 255, "normal" = 150, "low" = 50. Default normal. */
  priority?: number | PriorityTier;
  /** Do not run before this time (Date or epoch ms). Exclusive with `delay`. */
  runAt?: Date | number;
  /** Do not run for this many ms from now. Exclusive with `runAt`. */
  delay?: number;
  /** Retries after the first failure. Default the broker's. */
  maxRetries?: number;
  /** Lease length (how long one run may take before the task is given to another worker), ms. Default the broker's (30000). */
  timeout?: number;
  /** A second submit with the same key returns the first task instead of creating one; also makes the submit safe to resend. */
  idempotencyKey?: string;
}

/** One task of submitMany(). */
export interface SubmitItem extends SubmitOptions {
  type: string;
  payload?: unknown;
}

function invalid(field: string, message: string): InvalidFieldError {
  return new InvalidFieldError(ErrorCode.InvalidField, `${field}: ${message}`, { field });
}

function nonNegativeInt(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw invalid(field, `expected a whole number >= 0, got ${value}`);
  return value;
}

export function priorityValue(priority: number | string): number {
  if (typeof priority === "string") {
    if (Object.hasOwn(PRIORITY_TIERS, priority)) return PRIORITY_TIERS[priority as PriorityTier].default;
    const n = Number(priority);
    if (priority.trim() === "" || !Number.isInteger(n)) {
      throw invalid("priority", `expected high, normal, low or ${MIN_PRIORITY}-${MAX_PRIORITY}, got ${JSON.stringify(priority)}`);
    }
    priority = n;
  }
  if (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY) {
    throw invalid("priority", `expected high, normal, low or ${MIN_PRIORITY}-${MAX_PRIORITY}, got ${priority}`);
  }
  return priority;
}

/** The TaskSpec for one submit; `nowMs` turns a delay into a run time. */
export function toTaskSpec(type: string, payload: unknown, options: SubmitOptions, nowMs: number): TaskSpec {
  if (typeof type !== "string" || type === "") throw invalid("type", "expected a non-empty task type");
  const encoded = encodeValue("payload", payload);
  const spec: TaskSpec = { type, queue: options.queue ?? "", payload: encoded.bytes, payloadIsJson: encoded.isJson };
  if (options.priority !== undefined) spec.priority = priorityValue(options.priority);
  if (options.runAt !== undefined && options.delay !== undefined) throw invalid("runAt", "give runAt or delay, not both");
  if (options.runAt !== undefined) {
    const ms = options.runAt instanceof Date ? options.runAt.getTime() : options.runAt;
    spec.runAtMs = nonNegativeInt("runAt", ms);
  }
  if (options.delay !== undefined) spec.runAtMs = nowMs + nonNegativeInt("delay", options.delay);
  if (options.maxRetries !== undefined) spec.maxRetries = nonNegativeInt("maxRetries", options.maxRetries);
  if (options.timeout !== undefined) spec.leaseMs = nonNegativeInt("timeout", options.timeout);
  if (options.idempotencyKey !== undefined) {
    if (options.idempotencyKey === "") throw invalid("idempotencyKey", "must not be empty");
    spec.idempotencyKey = options.idempotencyKey;
  }
  return spec;
}

/** Rough wire size of a spec, to cut batches below the frame limit without encoding twice. */
export function approxSpecBytes(spec: TaskSpec): number {
  return 64 + spec.type.length * 3 + spec.queue.length * 3 + (spec.idempotencyKey?.length ?? 0) * 3 + spec.payload.byteLength;
}
