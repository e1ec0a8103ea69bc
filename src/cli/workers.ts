// `tq-broker workers`: the workers the broker knows, one row each (or JSON); `workers quiet|stop ID`
// tells one of them, through the REST API. Printing only.

import { showTime, table, toJson } from "./client-options.ts";
import { EXIT } from "./exit-codes.ts";
import { clientCommand } from "./client-command.ts";
import { styleFor } from "./style.ts";
import { ADMIN_FLAGS, AdminError, adminApi } from "./admin-http.ts";
import type { Command } from "./command.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";

const COMMAND_NAMES = ["run", "quiet", "shutdown"];

/**
 * CPU and memory arrive as float32 on the wire (0.2 reads back as 0.20000000298023224): one
 * decimal is all a person needs.
 */
function oneDecimal(v: unknown): string {
  return typeof v === "number" && Number.isFinite(v) ? String(Math.round(v * 10) / 10) : cell(v);
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return "-";
  if (Array.isArray(v)) return v.join(",");
  return String(v);
}

const listWorkers = clientCommand({
  name: "workers",
  summary: "list connected workers",
  description: `Lists the workers the broker knows: id, host and pid, queues, running (the tasks it holds leases on
now) / concurrency, CPU and memory from the last heartbeat, when it was last heard from, and its status: alive, quiet, shutting_down (what an
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
      `${cell(w.running ?? w.inFlight)}/${cell(w.concurrency)}`,
      `${oneDecimal(w.cpuPercent)}%`,
      `${oneDecimal(w.memoryMb)} MB`,
      showTime(typeof w.lastSeenAtMs === "number" ? w.lastSeenAtMs : null),
      typeof w.status === "string" ? `${w.status}${w.disconnectedAtMs && w.status !== "dead" ? " (disconnected)" : ""}` : (COMMAND_NAMES[Number(w.command)] ?? cell(w.command)),
    ]);
    const style = styleFor(ctx, "stdout");
    // A worker told to stop, or gone, is what a person scanning the list looks for.
    const state = (text: string): string =>
      text === "alive" || text === "run" ? style.green(text) : text.startsWith("quiet") || text.startsWith("alive") ? style.yellow(text) : style.red(text);
    ctx.out(table(["ID", "HOST:PID", "QUEUES", "RUNNING", "CPU", "MEMORY", "LAST SEEN", "STATE"], rows, { style, cell: (column, text) => (column === 7 ? state(text) : text) }));
    return EXIT.ok;
  },
});

const commandSpec: ArgsSpec = { flags: ADMIN_FLAGS, positionals: ["ACTION", "ID"], requiredPositionals: 2 };
const COMMANDS_BY_ACTION: Readonly<Record<string, string>> = { quiet: "quiet", stop: "shutdown" };

/** `workers` lists (TCP, as before); `workers quiet|stop ID` tells one worker (REST API). */
export const workersCommand: Command = {
  ...listWorkers,
  summary: "list workers; quiet or stop one",
  flags: undefined,
  actions: { list: listWorkers.flags!, quiet: ADMIN_FLAGS, stop: ADMIN_FLAGS },
  help: `${listWorkers.help}

usage: tq-broker workers quiet|stop ID [--api-url URL] [--api-key KEY] [--json]

quiet: the worker takes no new task and finishes what it runs; stop: it also exits when done. Told in
its next heartbeat reply, and enforced by the broker at once. Speaks the REST API (api.rest_port); in a
cluster any broker passes the command on to the one the worker is connected to.

options of quiet, stop:
${formatFlags(ADMIN_FLAGS)}`,
  async run(argv, ctx) {
    const action = argv[0];
    if (action === undefined || COMMANDS_BY_ACTION[action] === undefined) return listWorkers.run(action === "list" ? argv.slice(1) : argv, ctx);
    const args = parseArgs(argv, commandSpec);
    try {
      const worker = await adminApi(args, ctx).call("POST", `/api/v1/workers/${encodeURIComponent(args.positionals[1]!)}/${COMMANDS_BY_ACTION[action]}`);
      const told = action === "stop" ? "told to finish its tasks and exit" : "told to take no new tasks";
      // 202 from a broker of a cluster the worker is not connected to: it passed the command on.
      const via = worker.forwarded === true ? ` (through broker ${worker.node_id}, which serves it)` : "";
      ctx.out(args.booleans.json ? toJson(worker) : `worker ${worker.id}: ${told}${via}`);
      return EXIT.ok;
    } catch (err) {
      if (!(err instanceof AdminError)) throw err;
      ctx.err(`tq-broker: ${err.message}`);
      return EXIT.failure;
    }
  },
};
