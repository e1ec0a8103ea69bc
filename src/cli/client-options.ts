// What the task subcommands (submit, status, cancel, retry, stats, workers, tasks, worker) share:
// the --url/--api-key/--tls-ca/--json flags, making a Client from them, turning SDK errors into
// one clear line and exit 1, and printing values as text or JSON. No command logic here.

import { readFileSync } from "node:fs";
import { Client } from "../client/client.ts";
import type { ClientOptions } from "../client/client-options.ts";
import type { Task } from "../client/task-view.ts";
import { TqError } from "../client/tq-error.ts";
import type { CliContext } from "./command.ts";
import { EXIT, UsageError, type ExitCode } from "./exit-codes.ts";
import type { FlagSpec, ParsedArgs } from "./parse-args.ts";
import { PLAIN, statusColor, type Style } from "./style.ts";

export const CLIENT_FLAGS: Readonly<Record<string, FlagSpec>> = {
  url: { type: "string", valueName: "URL", description: "broker, tq://host:port or tqs://host:port; several comma-separated (tq://a:6379,b:6379) are tried in turn (default $TQ_URL, else tq://127.0.0.1:6379)" },
  "api-key": { type: "string", valueName: "KEY", description: "API key (default $TQ_API_KEY)" },
  "tls-ca": { type: "string", valueName: "FILE", description: "PEM CA to trust for a tqs:// broker with a private certificate" },
  json: { type: "boolean", description: "print JSON (one document) instead of text" },
};

/** How long a CLI request may wait: long enough for a busy broker, short enough for a script. */
const CLI_REQUEST_TIMEOUT_MS = 15_000;

/** Client options from the shared flags; env defaults (TQ_URL, TQ_API_KEY) come from ctx.env. */
export function clientOptionsFrom(args: ParsedArgs, ctx: CliContext): ClientOptions {
  const options: ClientOptions = { env: ctx.env, clientName: "tq-broker-cli", requestTimeoutMs: CLI_REQUEST_TIMEOUT_MS };
  const url = args.strings.url;
  if (url !== undefined) options.url = url;
  const apiKey = args.strings["api-key"];
  if (apiKey !== undefined) options.apiKey = apiKey;
  const caFile = args.strings["tls-ca"];
  if (caFile !== undefined) {
    try {
      options.tls = { ca: readFileSync(caFile, "utf8") };
    } catch (err) {
      throw new UsageError(`--tls-ca ${caFile}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return options;
}

/**
 * Runs `fn` with a connected-on-demand Client and closes it after. SDK errors become one line
 * on stderr naming the error class and exit 1; usage errors go on to main.ts.
 */
export async function withClient(args: ParsedArgs, ctx: CliContext, fn: (client: Client) => Promise<ExitCode>): Promise<ExitCode> {
  let client: Client;
  try {
    // One-shot commands do not reconnect: a broker that is down is reported at once.
    client = new Client({ ...clientOptionsFrom(args, ctx), reconnect: false });
  } catch (err) {
    if (err instanceof TqError) throw new UsageError(err.message);
    throw err;
  }
  try {
    return await fn(client);
  } catch (err) {
    if (!(err instanceof TqError)) throw err;
    ctx.err(`tq-broker: ${err.name}: ${err.message}`);
    return EXIT.failure;
  } finally {
    await client.close();
  }
}

/** JSON with bytes shown as {"base64": ...} so binary payloads survive a pipe. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? { base64: Buffer.from(v).toString("base64") } : v), 2);
}

/** A payload or result for a human: JSON compact, bytes as a size and hex preview. */
export function showValue(value: unknown): string {
  if (value instanceof Uint8Array) {
    const preview = Buffer.from(value.subarray(0, 16)).toString("hex");
    return `<${value.byteLength} bytes${value.byteLength > 0 ? ` ${preview}${value.byteLength > 16 ? "..." : ""}` : ""}>`;
  }
  return JSON.stringify(value) ?? "null";
}

export function showTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? "-" : new Date(ms).toISOString();
}

export interface TableStyle {
  style: Style;
  /** Colours one body cell by its column and text (e.g. a status); default leaves it plain. */
  cell?(column: number, text: string): string;
}

/**
 * Left-aligned columns with a header row, two spaces apart, aligned whatever the stream (a pipe
 * to awk or grep gets the same columns). Widths come from the plain text; colour is added after
 * padding, so escapes never shift a column.
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[], look: TableStyle = { style: PLAIN }): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[], paint: (column: number, text: string) => string): string =>
    cells
      .map((c, i) => {
        const pad = i === cells.length - 1 ? "" : " ".repeat(Math.max(0, (widths[i] ?? 0) - c.length));
        return paint(i, c) + pad;
      })
      .join("  ")
      .trimEnd();
  const body = look.cell ?? ((_column: number, text: string) => text);
  return [line(header, (_i, text) => look.style.bold(text)), ...rows.map((r) => line(r, body))].join("\n");
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "250ms", "30s", "5m", "2h", "1d" (a bare number is seconds) -> ms. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (m === null) throw new UsageError(`--${flag}: ${JSON.stringify(text)} is not a duration (e.g. 500ms, 30s, 5m, 2h, 1d)`);
  return Math.round(Number(m[1]) * (DURATION_UNITS_MS[m[2] ?? "s"] ?? 1000));
}

/** A whole number flag within bounds. */
export function parseCount(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < min || n > max) throw new UsageError(`--${flag}: expected a whole number ${min}-${max}, got ${JSON.stringify(text)}`);
  return n;
}

/** A task as `key: value` lines for humans; on a terminal the keys are dim and the status coloured. */
export function showTask(task: Task, style: Style = PLAIN): string {
  const rows: Array<[string, string]> = [
    ["id", task.id],
    ["status", statusColor(style, task.status)],
    ["type", task.type],
    ["queue", task.queue],
    ["priority", String(task.priority)],
    ["attempts", `${task.attempts} (max retries ${task.maxRetries})`],
    ["lease", `${task.leaseMs} ms`],
    ["created", showTime(task.createdAtMs)],
    ["run at", showTime(task.runAtMs)],
    ["started", showTime(task.startedAtMs)],
    ["finished", showTime(task.finishedAtMs)],
    ["worker", task.workerId ?? "-"],
    ["payload", showValue(task.payload)],
  ];
  if (task.idempotencyKey !== null) rows.push(["idempotency key", task.idempotencyKey]);
  if (task.result !== null) rows.push(["result", showValue(task.result)]);
  if (task.error !== null) rows.push(["error", task.error.split("\n").join("\n" + " ".repeat(17))]);
  return rows.map(([k, v]) => `${style.dim(`${k}:`.padEnd(16))} ${v}`).join("\n");
}
