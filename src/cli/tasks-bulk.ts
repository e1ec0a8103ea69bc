// `tq-broker tasks retry|cancel|delete`: one action on every task a filter matches (--status dead
// --queue mail --type email.send --older-than 1h), counted first (--dry-run stops there), asked,
// then done through the REST API's bulk route until nothing matching is left.

import { WIRE_TASK_STATUSES } from "../protocol/wire-values.ts";
import { ADMIN_FLAGS, AdminError, adminApi, confirm } from "./admin-http.ts";
import { parseDuration, toJson } from "./client-options.ts";
import type { CliContext } from "./command.ts";
import { EXIT, UsageError, type ExitCode } from "./exit-codes.ts";
import type { FlagSpec, ParsedArgs } from "./parse-args.ts";

export const BULK_ACTIONS = ["retry", "cancel", "delete"] as const;

export const BULK_FLAGS: Readonly<Record<string, FlagSpec>> = {
  status: { type: "string", valueName: "S", description: "required: retry takes dead or cancelled; cancel pending, scheduled, failed or in_progress; delete any but in_progress" },
  queue: { type: "string", valueName: "Q", description: "only this queue" },
  type: { type: "string", valueName: "T", description: "only this task type" },
  "older-than": { type: "string", valueName: "AGE", description: "only tasks last changed more than AGE ago (30s, 5m, 1h, 7d)" },
  "dry-run": { type: "boolean", description: "only count what matches" },
  yes: { type: "boolean", description: "do not ask" },
  ...ADMIN_FLAGS,
};

export async function runBulkCommand(action: string, args: ParsedArgs, ctx: CliContext): Promise<ExitCode> {
  const s = args.strings;
  if (s.status === undefined) throw new UsageError(`${action} needs --status (e.g. --status dead)`);
  if (!(WIRE_TASK_STATUSES as readonly string[]).includes(s.status)) throw new UsageError(`--status: ${JSON.stringify(s.status)} is not one of ${WIRE_TASK_STATUSES.join(", ")}`);
  const body: Record<string, unknown> = { action, status: s.status };
  if (s.queue !== undefined) body.queue = s.queue;
  if (s.type !== undefined) body.type = s.type;
  if (s["older-than"] !== undefined) body.older_than_ms = parseDuration("older-than", s["older-than"]);
  const what = [s.status, s.queue && `in queue ${s.queue}`, s.type && `of type ${s.type}`, s["older-than"] && `older than ${s["older-than"]}`].filter(Boolean).join(" ");
  const api = adminApi(args, ctx);
  try {
    const dry = await api.call("POST", "/api/v1/tasks/bulk", { ...body, dry_run: true });
    if (args.booleans["dry-run"]) {
      ctx.out(args.booleans.json ? toJson({ action, matched: dry.matched }) : `${dry.matched} ${what} task(s) would be ${done(action)}`);
      return EXIT.ok;
    }
    if (dry.matched === 0) {
      ctx.out(args.booleans.json ? toJson({ action, matched: 0, changed: 0, skipped: 0 }) : `no ${what} task matches`);
      return EXIT.ok;
    }
    if (!(await confirm(`${capital(action)} ${dry.matched} ${what} task(s)?`, args, ctx))) {
      ctx.err("nothing changed");
      return EXIT.failure;
    }
    let changed = 0;
    let skipped = 0;
    for (let calls = 0; calls < 10_000; calls++) {
      const step = await api.call("POST", "/api/v1/tasks/bulk", body);
      changed += step.changed;
      skipped += step.skipped;
      if (step.done || step.changed + step.skipped === 0) break;
    }
    ctx.out(args.booleans.json ? toJson({ action, matched: dry.matched, changed, skipped }) : `${done(action)} ${changed} task(s)${skipped > 0 ? ` (${skipped} had changed meanwhile and were left alone)` : ""}`);
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof AdminError)) throw err;
    ctx.err(`tq-broker: ${err.message}`);
    return EXIT.failure;
  }
}

function done(action: string): string {
  return action === "retry" ? "re-run" : action === "cancel" ? "cancelled" : "deleted";
}

function capital(word: string): string {
  return word[0]!.toUpperCase() + word.slice(1);
}
