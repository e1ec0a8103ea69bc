// `tq-broker queues list|pause|resume|purge`: the queues an operator looks after, over the REST API.
// Printing and asking only; the broker does the work.

import { ADMIN_FLAGS, AdminError, adminApi, confirm } from "./admin-http.ts";
import { table, toJson } from "./client-options.ts";
import type { Command } from "./command.ts";
import { EXIT, UsageError } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";
import { humanDuration } from "./stats.ts";
import { styleFor } from "./style.ts";

const ACTIONS = ["list", "pause", "resume", "purge"] as const;
const flags = {
  ...ADMIN_FLAGS,
  "dry-run": { type: "boolean", description: "purge: only count the waiting tasks" },
  yes: { type: "boolean", description: "purge: do not ask" },
} as const;
const spec: ArgsSpec = { flags, positionals: ["ACTION", "QUEUE"], requiredPositionals: 1 };

export const queuesCommand: Command = {
  name: "queues",
  summary: "list, pause, resume or purge queues (REST API)",
  actions: Object.fromEntries(ACTIONS.map((a) => [a, flags])),
  help: `usage: tq-broker queues list [--json]
       tq-broker queues pause|resume QUEUE
       tq-broker queues purge QUEUE [--dry-run] [--yes]

list: every queue with ready tasks by tier, scheduled, retrying, running, dead, the oldest ready
task's age, completions per minute and failure rate over the last 5 minutes, and whether it is paused.
pause / resume: claims stop (start again) taking the queue's tasks; submits still go in. A pause is
kept by the store, so it outlives a restart.
purge: deletes every waiting task of the queue (pending, scheduled, failed awaiting retry); running
tasks finish. Asks first (--yes does not; on a pipe --yes is needed), --dry-run only counts.
Speaks the REST API (api.rest_port) with an admin key.

options:
${formatFlags(flags)}`,
  async run(argv, ctx) {
    const args = parseArgs(argv, spec);
    const action = args.positionals[0]!;
    if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`unknown action ${JSON.stringify(action)} (expected: ${ACTIONS.join(", ")})`);
    const queue = args.positionals[1];
    if (action !== "list" && queue === undefined) throw new UsageError(`${action} needs a QUEUE`);
    const api = adminApi(args, ctx);
    try {
      if (action === "list") {
        const { queues } = await api.call("GET", "/api/v1/queues");
        if (args.booleans.json) ctx.out(toJson(queues));
        else if (queues.length === 0) ctx.out("no queues");
        else {
          const rows = queues.map((q: any) => [
            q.name, String(q.pending.high), String(q.pending.normal), String(q.pending.low), String(q.scheduled - q.retrying), String(q.retrying),
            String(q.in_progress), String(q.dead), q.oldest_ready_age_ms === null ? "-" : humanDuration(q.oldest_ready_age_ms),
            q.completed_per_min.toFixed(1), q.failure_rate === null ? "-" : `${(q.failure_rate * 100).toFixed(1)}%`, q.paused ? "paused" : "running",
          ]);
          const style = styleFor(ctx, "stdout");
          ctx.out(table(["QUEUE", "HIGH", "NORMAL", "LOW", "SCHEDULED", "RETRYING", "RUNNING", "DEAD", "OLDEST", "DONE/MIN", "FAILING", "STATE"], rows, {
            style, cell: (column, text) => (column === 11 && text === "paused" ? style.yellow(text) : column === 7 && text !== "0" ? style.red(text) : text),
          }));
        }
        return EXIT.ok;
      }
      const path = `/api/v1/queues/${encodeURIComponent(queue!)}`;
      if (action === "pause" || action === "resume") {
        const state = await api.call("POST", `${path}/${action}`);
        ctx.out(args.booleans.json ? toJson(state) : `queue ${state.name} ${state.paused ? "paused" : "resumed"}`);
        return EXIT.ok;
      }
      const dry = await api.call("POST", `${path}/purge`, { dry_run: true });
      if (args.booleans["dry-run"]) {
        ctx.out(args.booleans.json ? toJson(dry) : `${dry.matched} waiting task(s) in queue ${queue} would be deleted`);
        return EXIT.ok;
      }
      if (dry.matched === 0) {
        ctx.out(args.booleans.json ? toJson(dry) : `queue ${queue} has no waiting task`);
        return EXIT.ok;
      }
      if (!(await confirm(`Delete the ${dry.matched} waiting task(s) of queue ${queue}?`, args, ctx))) {
        ctx.err("nothing deleted");
        return EXIT.failure;
      }
      let deleted = 0;
      for (let calls = 0; calls < 10_000; calls++) {
        const step = await api.call("POST", `${path}/purge`, {});
        deleted += step.changed;
        if (step.done || step.changed + step.skipped === 0) break;
      }
      ctx.out(args.booleans.json ? toJson({ queue, deleted }) : `deleted ${deleted} task(s) from queue ${queue}`);
      return EXIT.ok;
    } catch (err) {
      if (!(err instanceof AdminError)) throw err;
      ctx.err(`tq-broker: ${err.message}`);
      return EXIT.failure;
    }
  },
};
