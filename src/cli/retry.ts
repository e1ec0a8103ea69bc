// `tq-broker retry ID`: run a dead or cancelled task again. Parses flags and prints; the Client does the work.

import { CLIENT_FLAGS, showTask, toJson, withClient } from "./client-options.ts";
import type { Command } from "./command.ts";
import { EXIT } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";

const spec: ArgsSpec = { flags: CLIENT_FLAGS, positionals: ["ID"], requiredPositionals: 1 };

export const retryCommand: Command = {
  name: "retry",
  summary: "run a dead or cancelled task again",
  help: `usage: tq-broker retry ID [--url URL] [--api-key KEY] [--json]

Puts dead or cancelled task ID back to pending with its attempts reset, to run again.
Other statuses give InvalidStateError (exit 1). Prints the task.

options:
${formatFlags(spec.flags)}`,
  async run(argv, ctx) {
    const args = parseArgs(argv, spec);
    if (args.help) {
      ctx.out(this.help);
      return EXIT.ok;
    }
    return withClient(args, ctx, async (client) => {
      const task = await client.retry(args.positionals[0]!);
      ctx.out(args.booleans.json ? toJson(task) : showTask(task));
      return EXIT.ok;
    });
  },
};
