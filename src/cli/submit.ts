// `tq-broker submit TYPE`: submits one task from the command line and prints its id (and, with
// --wait, its result). Flag parsing and printing only; the Client does the work.

import { readFileSync } from "node:fs";
import { toTaskSpec, type SubmitOptions } from "../client/submit-options.ts";
import { InvalidFieldError, TimeoutError } from "../client/tq-error.ts";
import { MAX_CLAIM_WAIT_MS } from "../protocol/limits.ts";
import { CLIENT_FLAGS, parseCount, parseDuration, showValue, toJson, withClient } from "./client-options.ts";
import type { Command } from "./command.ts";
import { EXIT, UsageError } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";

const spec: ArgsSpec = {
  flags: {
    payload: { type: "string", valueName: "JSON|@FILE", description: "payload as JSON text, or @path to read it from a file (default null)" },
    queue: { type: "string", valueName: "Q", description: "queue (default \"default\")" },
    priority: { type: "string", valueName: "P", choices: ["high", "normal", "low"], description: "high, normal, low or 0-255 (default normal = 150)" },
    delay: { type: "string", valueName: "DURATION", description: "run no sooner than this from now: 500ms, 30s, 5m, 2h, 1d" },
    at: { type: "string", valueName: "TIME", description: "run no sooner than TIME (ISO 8601, e.g. 2026-12-01T09:00:00Z, or epoch ms)" },
    "max-retries": { type: "string", valueName: "N", description: "retries after the first failure (default the broker's)" },
    timeout: { type: "string", valueName: "DURATION", description: "lease: how long one run may take before it is given to another worker" },
    "idempotency-key": { type: "string", valueName: "K", description: "a second submit with the same key returns the first task" },
    wait: { type: "boolean", description: "wait for the task to finish and print its result" },
    "wait-timeout": { type: "string", valueName: "DURATION", description: "with --wait, give up after this long (default 5m)" },
    ...CLIENT_FLAGS,
  },
  positionals: ["TYPE"],
  requiredPositionals: 1,
};

/** `--payload` as the SDK takes it: parsed JSON, or the bytes of a file that is not JSON. */
function readPayload(text: string | undefined): unknown {
  if (text === undefined) return null;
  if (text.startsWith("@")) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(text.slice(1));
    } catch (err) {
      throw new UsageError(`--payload ${text}: ${err instanceof Error ? err.message : String(err)}`);
    }
    try {
      return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch {
      return new Uint8Array(bytes);
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--payload: not valid JSON (${err instanceof Error ? err.message : String(err)}); quote strings, e.g. --payload '"hello"', or use @file`);
  }
}

function parseAt(text: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new UsageError(`--at: ${JSON.stringify(text)} is not a time (ISO 8601 or epoch ms)`);
  return ms;
}

/** The flag each SDK option comes from, to name it in a usage error. */
const FLAG_OF_FIELD: Readonly<Record<string, string>> = {
  type: "TYPE",
  payload: "--payload",
  priority: "--priority",
  runAt: "--at",
  delay: "--delay",
  maxRetries: "--max-retries",
  timeout: "--timeout",
  idempotencyKey: "--idempotency-key",
};

/**
 * What the client can tell alone (a priority that is not a tier or 0-255, a bad time) is a
 * command-line mistake: exit 64 before connecting, not exit 1 after.
 */
function checkLocally(type: string, payload: unknown, options: SubmitOptions): void {
  try {
    toTaskSpec(type, payload, options, Date.now());
  } catch (err) {
    if (!(err instanceof InvalidFieldError)) throw err;
    const field = err.field ?? "";
    const flag = FLAG_OF_FIELD[field] ?? field;
    throw new UsageError(`${flag}${err.message.startsWith(`${field}:`) ? err.message.slice(field.length) : `: ${err.message}`}`);
  }
}

export const submitCommand: Command = {
  name: "submit",
  summary: "submit a task and print its id",
  flags: spec.flags,
  help: `usage: tq-broker submit TYPE [--payload JSON|@FILE] [--queue Q] [--priority high|normal|low|N]
                         [--delay DURATION | --at TIME] [--max-retries N] [--idempotency-key K] [--wait]

Submits one task of type TYPE and prints its id. With --wait, waits for it to finish and prints
its result (exit 1 if it ends dead or cancelled).

--wait that runs out (--wait-timeout) is not a failure: the task exists and goes on. The CLI
then exits 75 and says on stderr what the task is now. Text: the id (printed before waiting) is
the only stdout line. --json: one document with the task's current status, "result": null and
"timedOut": true (a finished wait has "timedOut": false).

examples:
  tq-broker submit email.send --payload '{"to":"ada@example.com"}' --priority high
  tq-broker submit report.build --payload @params.json --delay 10m
  tq-broker submit resize --payload @photo.jpg --wait

options:
${formatFlags(spec.flags)}`,
  async run(argv, ctx) {
    const args = parseArgs(argv, spec);
    const type = args.positionals[0]!;
    const payload = readPayload(args.strings.payload);
    const options: SubmitOptions = {};
    const s = args.strings;
    if (s.queue !== undefined) options.queue = s.queue;
    if (s.priority !== undefined) options.priority = /^\d+$/.test(s.priority) ? Number(s.priority) : (s.priority as SubmitOptions["priority"]);
    if (s.delay !== undefined && s.at !== undefined) throw new UsageError("give --delay or --at, not both");
    if (s.delay !== undefined) options.delay = parseDuration("delay", s.delay);
    if (s.at !== undefined) options.runAt = parseAt(s.at);
    if (s["max-retries"] !== undefined) options.maxRetries = parseCount("max-retries", s["max-retries"], 0, 1000);
    if (s.timeout !== undefined) options.timeout = parseDuration("timeout", s.timeout);
    if (s["idempotency-key"] !== undefined) options.idempotencyKey = s["idempotency-key"];
    const waitMs = s["wait-timeout"] === undefined ? MAX_CLAIM_WAIT_MS : parseDuration("wait-timeout", s["wait-timeout"]);
    checkLocally(type, payload, options);
    return withClient(args, ctx, async (client) => {
      const sent = await client.submit(type, payload, options);
      if (!args.booleans.wait) {
        ctx.out(args.booleans.json ? toJson(sent) : sent.id);
        return EXIT.ok;
      }
      if (!args.booleans.json) ctx.out(sent.id);
      let result: unknown;
      try {
        result = await client.result(sent.id, { wait: waitMs });
      } catch (err) {
        if (!(err instanceof TimeoutError)) throw err;
        // Not done is not failed: say what the task is now, never print it as finished.
        const now = await client.status(sent.id);
        if (args.booleans.json) ctx.out(toJson({ ...sent, status: now.status, result: null, timedOut: true }));
        ctx.err(`tq-broker: timed out after ${waitMs} ms waiting for task ${sent.id}: it is ${now.status}; check later with: tq-broker status ${sent.id}`);
        return EXIT.waitTimeout;
      }
      ctx.out(args.booleans.json ? toJson({ ...sent, status: "completed", result, timedOut: false }) : showValue(result));
      return EXIT.ok;
    });
  },
};
