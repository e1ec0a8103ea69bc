// The process's open-file limit, read from /proc, so the connection limit can be kept below it:
// at the limit accept() fails with EMFILE and Bun retries it in a loop (a CPU spin).
// Linux only; elsewhere the limit is unknown and nothing is capped.

import { readFileSync } from "node:fs";

/** Descriptors kept for the database, its WAL, listeners, logs and the runtime itself (a quarter of a small limit). */
export const RESERVED_FDS = 64;

export function reservedFds(fdLimit: number): number {
  return Math.min(RESERVED_FDS, Math.max(16, Math.floor(fdLimit / 4)));
}

/** The soft "Max open files" limit, or null when it cannot be read or is unlimited. */
export function openFileLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/self/limits", "utf8");
    } catch {
      return null;
    }
  }
  const match = /^Max open files\s+(\S+)/m.exec(text);
  if (!match || match[1] === "unlimited") return null;
  const soft = Number(match[1]);
  return Number.isFinite(soft) ? soft : null;
}

/** The connection limit to enforce: the configured one, lowered to fit under the descriptor limit. */
export function effectiveMaxConnections(configured: number, fdLimit: number | null): number {
  if (fdLimit === null) return configured;
  return Math.max(1, Math.min(configured, fdLimit - reservedFds(fdLimit)));
}
