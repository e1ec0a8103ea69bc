// Reads a priority given as a tier name or a number into 0-255, with the error a client sees.
// Pure: validation only, no defaults beyond the tier defaults of protocol/limits.ts.

import { BrokerError, ErrorCode } from "../protocol/errors.ts";
import { DEFAULT_PRIORITY, MAX_PRIORITY, MIN_PRIORITY, PRIORITY_TIERS, type PriorityTier } from "../protocol/limits.ts";

function isTier(name: string): name is PriorityTier {
  return Object.hasOwn(PRIORITY_TIERS, name);
}

/**
 * "high" | "normal" | "low" (any case) become the tier's default; an integer 0-255 (or its decimal
 * text, as query strings carry it) is taken as is; undefined/null mean the normal default.
 * Anything else throws InvalidField naming the value.
 */
export function parsePriority(value: unknown, field = "priority"): number {
  if (value === undefined || value === null) return DEFAULT_PRIORITY;
  if (typeof value === "string") {
    const name = value.trim().toLowerCase();
    if (isTier(name)) return PRIORITY_TIERS[name].default;
    if (/^\d{1,3}$/.test(name)) return parsePriority(Number(name), field);
  } else if (typeof value === "number" && Number.isInteger(value) && value >= MIN_PRIORITY && value <= MAX_PRIORITY) {
    return value;
  }
  throw new BrokerError(
    ErrorCode.InvalidField,
    `${field} must be "high", "normal", "low" or an integer ${MIN_PRIORITY}-${MAX_PRIORITY}, got ${describe(value)}`,
    { field },
  );
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === "number") return String(value);
  return typeof value;
}
