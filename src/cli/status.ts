// `tq-broker status ID`: show one task: status, attempts, result or error. Parses flags and prints; the Client does the work.

import { CLIENT_FLAGS, showTask, toJson, withClient } from "./client-options.ts";
import type { Command } from "./command.ts";
import { EXIT } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";

const spec: ArgsSpec = { flags: CLIENT_FLAGS, positionals: ["ID"], requiredPositionals: 1 };

export const statusCommand: Command = {
  name: "status",
  summary: "show one task: status, attempts, result or error",
  help: `usage: tq-broker status ID [--url URL] [--api-key KEY] [--json]

Prints the task with id ID: its status, attempts, times, payload, and its result or last error.
Exit 1 with NotFoundError if there is no such task.

options:
${formatFlags(spec.flags)}`,
  async run(argv, ctx) {
    const args = parseArgs(argv, spec);
    if (args.help) {
      ctx.out(this.help);
      return EXIT.ok;
    }
    return withClient(args, ctx, async (client) => {
      const task = await client.status(args.positionals[0]!);
      ctx.out(args.booleans.json ? toJson(task) : showTask(task));
      return EXIT.ok;
    });
  },
};
