// `tq-broker tasks list`: a page of tasks filtered by status, queue and type (or JSON, with the
// cursor for the next page); `tasks retry|cancel|delete` by filter: tasks-bulk.ts. Printing only.

import type { ListTasksOptions } from "../client/client.ts";
import type { TaskStatus } from "../client/task-view.ts";
import { MAX_LIST_LIMIT } from "../protocol/limits.ts";
import { WIRE_TASK_STATUSES } from "../protocol/wire-values.ts";
import { CLIENT_FLAGS, parseCount, showTime, table, toJson, withClient } from "./client-options.ts";
import type { Command } from "./command.ts";
import { EXIT, UsageError } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";
import { statusColor, styleFor } from "./style.ts";
import { BULK_ACTIONS, BULK_FLAGS, runBulkCommand } from "./tasks-bulk.ts";

const spec: ArgsSpec = {
  flags: {
    status: { type: "string", valueName: "S", choices: WIRE_TASK_STATUSES, description: `only this status: ${WIRE_TASK_STATUSES.join(", ")}` },
    queue: { type: "string", valueName: "Q", description: "only this queue" },
    type: { type: "string", valueName: "T", description: "only this task type" },
    limit: { type: "string", valueName: "N", description: `at most N tasks, 1-${MAX_LIST_LIMIT} (default 50)` },
    cursor: { type: "string", valueName: "C", description: "continue after the page that printed this cursor (give the same --order)" },
    order: { type: "string", valueName: "O", choices: ["oldest", "newest"], description: "oldest (default) or newest first: finished tasks by finish time, others by submission" },
    ...CLIENT_FLAGS,
  },
  positionals: ["list"],
  requiredPositionals: 1,
};
const bulkSpec: ArgsSpec = { flags: BULK_FLAGS, positionals: ["ACTION"], requiredPositionals: 1 };

export const tasksCommand: Command = {
  name: "tasks",
  summary: "list tasks; retry, cancel or delete every task a filter matches",
  actions: { list: spec.flags, retry: BULK_FLAGS, cancel: BULK_FLAGS, delete: BULK_FLAGS },
  help: `usage: tq-broker tasks list [--status S] [--queue Q] [--type T] [--order oldest|newest] [--limit N] [--cursor C] [--json]
       tq-broker tasks retry|cancel|delete --status S [--queue Q] [--type T] [--older-than AGE] [--dry-run] [--yes]

list: tasks, oldest first (or --order newest), filtered by status, queue and type (the TCP protocol, --url). When more
match than --limit, the last line gives the --cursor for the next page.

retry / cancel / delete: every task the filter matches. The count comes first; --dry-run stops
there; otherwise the command asks (--yes does not; on a pipe --yes is needed), then acts until no
matching task is left. Speaks the REST API (api.rest_port, --api-url) with an admin key.

examples:
  tq-broker tasks list --status dead
  tq-broker tasks list --status completed --order newest --limit 20
  tq-broker tasks retry --status dead --queue mail --type email.send --dry-run
  tq-broker tasks retry --status dead --queue mail --yes
  tq-broker tasks delete --status dead --older-than 7d

options of list:
${formatFlags(spec.flags)}

options of retry, cancel, delete:
${formatFlags(BULK_FLAGS)}`,
  async run(argv, ctx) {
    if ((BULK_ACTIONS as readonly string[]).includes(argv[0] ?? "")) return runBulkCommand(argv[0]!, parseArgs(argv, bulkSpec), ctx);
    const args = parseArgs(argv, spec);
    if (args.positionals[0] !== "list") throw new UsageError(`unknown action ${JSON.stringify(args.positionals[0])} (expected: list, retry, cancel, delete)`);
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
    if (s.order !== undefined) {
      if (s.order !== "oldest" && s.order !== "newest") throw new UsageError(`--order: ${JSON.stringify(s.order)} is not one of oldest, newest`);
      options.order = s.order;
    }
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
