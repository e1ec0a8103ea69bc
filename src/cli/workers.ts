// `tq-broker workers`: the workers the broker knows, one row each (or JSON). Printing only.

import { CLIENT_FLAGS, showTime, table, toJson, withClient } from "./client-options.ts";
import type { Command } from "./command.ts";
import { EXIT } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";

const spec: ArgsSpec = { flags: CLIENT_FLAGS };

const COMMAND_NAMES = ["run", "quiet", "shutdown"];

function cell(v: unknown): string {
  if (v === null || v === undefined) return "-";
  if (Array.isArray(v)) return v.join(",");
  return String(v);
}

export const workersCommand: Command = {
  name: "workers",
  summary: "list connected workers",
  help: `usage: tq-broker workers [--url URL] [--api-key KEY] [--json]

Lists the workers the broker knows: id, host and pid, queues, running/concurrency, CPU and memory
from the last heartbeat, when it was last heard from, and whether it was told to quiet or stop.

options:
${formatFlags(spec.flags)}`,
  async run(argv, ctx) {
    const args = parseArgs(argv, spec);
    if (args.help) {
      ctx.out(this.help);
      return EXIT.ok;
    }
    return withClient(args, ctx, async (client) => {
      const workers = await client.workers();
      if (args.booleans.json) {
        ctx.out(toJson(workers));
        return EXIT.ok;
      }
      if (workers.length === 0) {
        ctx.out("no workers");
        return EXIT.ok;
      }
      const rows = workers.map((w) => [
        cell(w.id),
        `${cell(w.hostname)}:${cell(w.pid)}`,
        cell(w.queues),
        `${cell(w.inFlight)}/${cell(w.concurrency)}`,
        `${cell(w.cpuPercent)}%`,
        `${cell(w.memoryMb)} MB`,
        showTime(typeof w.lastSeenAtMs === "number" ? w.lastSeenAtMs : null),
        w.disconnectedAtMs ? "disconnected" : (COMMAND_NAMES[Number(w.command)] ?? cell(w.command)),
      ]);
      ctx.out(table(["ID", "HOST:PID", "QUEUES", "RUNNING", "CPU", "MEMORY", "LAST SEEN", "STATE"], rows));
      return EXIT.ok;
    });
  },
};
