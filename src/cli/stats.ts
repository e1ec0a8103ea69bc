// `tq-broker stats`: the broker's counters (tasks by status and queue, workers, totals) as text
// or JSON. Printing only; the numbers come from the broker's GetStats answer.

import { table, toJson } from "./client-options.ts";
import { EXIT } from "./exit-codes.ts";
import { clientCommand } from "./client-command.ts";
import { styleFor, type Style } from "./style.ts";

/** A duration for a person: "0.42 ms", "87 ms", "4.2 s", "5m 03s", "2h 05m", "3d 04h". */
export function humanDuration(ms: number): string {
  if (ms < 10) return `${Number(ms.toFixed(2))} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))} s`;
  const two = (n: number): string => String(n).padStart(2, "0");
  const secs = Math.floor(ms / 1000);
  if (secs < 3600) return `${Math.floor(secs / 60)}m ${two(secs % 60)}s`;
  if (secs < 86_400) return `${Math.floor(secs / 3600)}h ${two(Math.floor(secs / 60) % 60)}m`;
  return `${Math.floor(secs / 86_400)}d ${two(Math.floor(secs / 3600) % 24)}h`;
}

/** One value for a person: epoch-ms fields as times, other ms fields as durations, fractions rounded, small objects inline. */
function show(key: string, value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (typeof value === "number") {
    if (/AtMs$/.test(key)) return value > 0 ? new Date(value).toISOString() : "-";
    if (/Ms$/.test(key)) return humanDuration(value);
    return Number.isInteger(value) ? String(value) : value.toFixed(2);
  }
  if (typeof value === "object" && !Array.isArray(value)) {
    return Object.entries(value)
      .map(([k, v]) => `${k}=${show(k, v)}`)
      .join(" ");
  }
  return String(value);
}

/** Nested stats as dotted `key value` rows; arrays of objects (per-queue counts) get their own table. */
function flatten(prefix: string, value: unknown, rows: string[][], tables: string[], style: Style): void {
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((v) => typeof v === "object" && v !== null && !Array.isArray(v))) {
      const objects = value as Array<Record<string, unknown>>;
      const header = [...new Set(objects.flatMap((o) => Object.keys(o)))];
      tables.push(`${style.bold(`${prefix}:`)}\n${table(header, objects.map((o) => header.map((h) => show(h, o[h]))), { style })}`);
      return;
    }
    rows.push([prefix, value.length === 0 ? "-" : value.join(", ")]);
    return;
  }
  if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) flatten(prefix === "" ? k : `${prefix}.${k}`, v, rows, tables, style);
    return;
  }
  rows.push([prefix, show(prefix, value)]);
}

export const statsCommand = clientCommand({
  name: "stats",
  summary: "show task counts, workers and totals",
  description: `Prints the broker's statistics: tasks pending, scheduled and in progress (overall and per queue),
connected workers, parked claims, and totals since start. Text shows durations for people
(uptime 5m 03s, commit p99 4.2 ms) and times as ISO 8601; --json gives the raw numbers (ms).`,
  async run(client, args, ctx) {
    const stats = await client.stats();
    if (args.booleans.json) {
      ctx.out(toJson(stats));
      return EXIT.ok;
    }
    const rows: string[][] = [];
    const tables: string[] = [];
    const style = styleFor(ctx, "stdout");
    flatten("", stats, rows, tables, style);
    ctx.out([table(["stat", "value"], rows, { style }), ...tables].join("\n\n"));
    return EXIT.ok;
  },
});
