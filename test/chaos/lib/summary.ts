// Collects one row per chaos scenario; printSummary() (each file's afterAll) prints them as a
// table, and rows go as JSON lines to TQ_CHAOS_REPORT when set (test/chaos/run.ts joins them into
// one table). Reporting only: decides no pass/fail. (bun test fires no process "exit" event.)

import { appendFileSync } from "node:fs";

export interface ChaosRow {
  test: string;
  /** Operations attempted (requests, frames, kills...: what the scenario counts). */
  operations: number;
  lost: number;
  unexpected: number;
  /** Duplicates beyond the at-least-once window (inside it they are only noted). */
  duplicates: number;
  /** Broker exits nobody asked for. */
  crashes: number;
  pass: boolean;
  /** Figures worth quoting: kills, peak RSS, time. */
  note: string;
}

const rows: ChaosRow[] = [];
let printed = 0;

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + " ".repeat(width - text.length);
}

export function formatTable(list: readonly ChaosRow[]): string {
  const header = ["test", "operations", "lost", "unexpected", "duplicates", "crashes", "result", "note"];
  const body = list.map((r) => [r.test, String(r.operations), String(r.lost), String(r.unexpected), String(r.duplicates), String(r.crashes), r.pass ? "pass" : "FAIL", r.note]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => pad(c, widths[i]!)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)].join("\n");
}

/** Adds a row (and appends it to TQ_CHAOS_REPORT). */
export function recordRow(row: ChaosRow): void {
  rows.push(row);
  const file = process.env.TQ_CHAOS_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify({ ...row, tier: process.env.TQ_CHAOS_TIER ?? "short", atMs: Date.now() })}\n`);
}

/** Prints the rows recorded since the last call; for afterAll. */
export function printSummary(): void {
  const fresh = rows.slice(printed);
  printed = rows.length;
  if (fresh.length > 0) process.stdout.write(`\nchaos summary (${process.env.TQ_CHAOS_TIER ?? "short"} tier)\n${formatTable(fresh)}\n`);
}
