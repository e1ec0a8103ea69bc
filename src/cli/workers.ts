// `tq-broker workers`: the workers the broker knows, one row each (or JSON). Printing only.

import { showTime, table, toJson } from "./client-options.ts";
import { EXIT } from "./exit-codes.ts";
import { clientCommand } from "./client-command.ts";

const COMMAND_NAMES = ["run", "quiet", "shutdown"];

function cell(v: unknown): string {
  if (v === null || v === undefined) return "-";
  if (Array.isArray(v)) return v.join(",");
  return String(v);
}

export const workersCommand = clientCommand({
  name: "workers",
  summary: "list connected workers",
  description: `Lists the workers the broker knows: id, host and pid, queues, running/concurrency, CPU and memory
from the last heartbeat, when it was last heard from, and its status: alive, quiet, shutting_down (what an
operator asked), or dead (listed until silent for worker.max_inactivity_secs).`,
  async run(client, args, ctx) {
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
      typeof w.status === "string" ? `${w.status}${w.disconnectedAtMs && w.status !== "dead" ? " (disconnected)" : ""}` : (COMMAND_NAMES[Number(w.command)] ?? cell(w.command)),
    ]);
    ctx.out(table(["ID", "HOST:PID", "QUEUES", "RUNNING", "CPU", "MEMORY", "LAST SEEN", "STATE"], rows));
    return EXIT.ok;
  },
});
