// `tq-broker tasks list`: a page of tasks filtered by status, queue and type (or JSON, with the
// cursor for the next page). Printing only; the broker does the filtering.

import type { ListTasksOptions } from "../client/client.ts";
import type { TaskStatus } from "../client/task-view.ts";
import { MAX_LIST_LIMIT } from "../protocol/limits.ts";
import { WIRE_TASK_STATUSES } from "../protocol/wire-values.ts";
import { CLIENT_FLAGS, parseCount, showTime, table, toJson, withClient } from "./client-options.ts";
import type { Command } from "./command.ts";
import { EXIT, UsageError } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";
import { statusColor, styleFor } from "./style.ts";

const spec: ArgsSpec = {
  flags: {
    status: { type: "string", valueName: "S", choices: WIRE_TASK_STATUSES, description: `only this status: ${WIRE_TASK_STATUSES.join(", ")}` },
    queue: { type: "string", valueName: "Q", description: "only this queue" },
    type: { type: "string", valueName: "T", description: "only this task type" },
    limit: { type: "string", valueName: "N", description: `at most N tasks, 1-${MAX_LIST_LIMIT} (default 50)` },
    cursor: { type: "string", valueName: "C", description: "continue after the page that printed this cursor" },
    ...CLIENT_FLAGS,
  },
  positionals: ["list"],
  requiredPositionals: 1,
};

export const tasksCommand: Command = {
  name: "tasks",
  summary: "list tasks by status, queue or type",
  actions: { list: spec.flags },
  help: `usage: tq-broker tasks list [--status S] [--queue Q] [--type T] [--limit N] [--cursor C] [--json]

Lists tasks, oldest first, filtered by status, queue and type. When more match than --limit, the
last line gives the --cursor for the next page.

examples:
  tq-broker tasks list --status dead
  tq-broker tasks list --queue emails --limit 200 --json

options:
${formatFlags(spec.flags)}`,
  async run(argv, ctx) {
    const args = parseArgs(argv, spec);
    if (args.positionals[0] !== "list") throw new UsageError(`unknown action ${JSON.stringify(args.positionals[0])} (expected: list)`);
    const s = args.strings;
    const options: ListTasksOptions = { limit: s.limit === undefined ? 50 : parseCount("limit", s.limit, 1, MAX_LIST_LIMIT) };
    if (s.status !== undefined) {
      if (!(WIRE_TASK_STATUSES as readonly string[]).includes(s.status)) {
        throw new UsageError(`--status: ${JSON.stringify(s.status)} is not one of ${WIRE_TASK_STATUSES.join(", ")}`);
      }
      options.status = s.status as TaskStatus;
    }
    if (s.queue !== undefined) options.queue = s.queue;
    if (s.type !== undefined) options.type = s.type;
    if (s.cursor !== undefined) options.cursor = s.cursor;
    return withClient(args, ctx, async (client) => {
      const page = await client.listTasks(options);
      if (args.booleans.json) {
        ctx.out(toJson(page));
        return EXIT.ok;
      }
      if (page.tasks.length === 0) ctx.out("no tasks");
      else {
        const rows = page.tasks.map((t) => [t.id, t.status, t.type, t.queue, String(t.priority), String(t.attempts), showTime(t.createdAtMs)]);
        const style = styleFor(ctx, "stdout");
        const cell = (column: number, text: string): string => (column === 1 ? statusColor(style, text) : text);
        ctx.out(table(["ID", "STATUS", "TYPE", "QUEUE", "PRIORITY", "ATTEMPTS", "CREATED"], rows, { style, cell }));
      }
      if (page.nextCursor !== null) ctx.out(`more: --cursor ${page.nextCursor}`);
      return EXIT.ok;
    });
  },
};
