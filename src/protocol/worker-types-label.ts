// The `tq.types` worker label: the task types a worker handles, as a JSON array, so that an
// operator's "why is this task not running" can say that no live worker handles its type. A
// convention on RegisterWorker's labels (the wire has no field for it); optional, pure.

import { MAX_LABEL_BYTES, MAX_WORKER_LABELS } from "./limits.ts";

export const WORKER_TYPES_LABEL = "tq.types";

export interface WireLabel {
  key: string;
  value: string;
}

/**
 * The worker's own labels, plus `tq.types` naming `types` when it fits one label (255 bytes of
 * JSON) and the worker set none itself. Left out rather than cut: a partial list would make the
 * broker say a type is unhandled when it is.
 */
export function withTypesLabel(labels: Readonly<Record<string, string>>, types: readonly string[]): WireLabel[] {
  const out = Object.entries(labels).map(([key, value]) => ({ key, value }));
  if (types.length === 0 || WORKER_TYPES_LABEL in labels || out.length >= MAX_WORKER_LABELS) return out;
  const value = JSON.stringify([...types].sort());
  if (new TextEncoder().encode(value).byteLength <= MAX_LABEL_BYTES) out.push({ key: WORKER_TYPES_LABEL, value });
  return out;
}

/** The types a worker's labels declare, or null when they declare none (or not as a JSON array of strings). */
export function declaredTypes(labels: Readonly<Record<string, string>>): string[] | null {
  const raw = labels[WORKER_TYPES_LABEL];
  if (raw === undefined) return null;
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) && parsed.every((t) => typeof t === "string") ? (parsed as string[]) : null;
  } catch {
    return null;
  }
}
