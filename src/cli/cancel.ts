// `tq-broker cancel ID`: cancel a pending, scheduled or failed task. Parses flags and prints; the Client does the work.

import { CLIENT_FLAGS, showTask, toJson, withClient } from "./client-options.ts";
import type { Command } from "./command.ts";
import { EXIT } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";

const spec: ArgsSpec = { flags: CLIENT_FLAGS, positionals: ["ID"], requiredPositionals: 1 };

export const cancelCommand: Command = {
  name: "cancel",
  summary: "cancel a pending, scheduled or failed task",
  help: `usage: tq-broker cancel ID [--url URL] [--api-key KEY] [--json]

Cancels task ID if it has not started: pending, scheduled, or failed and awaiting a retry.
A running task cannot be cancelled (InvalidStateError, exit 1). Prints the cancelled task.

options:
${formatFlags(spec.flags)}`,
  async run(argv, ctx) {
    const args = parseArgs(argv, spec);
    if (args.help) {
      ctx.out(this.help);
      return EXIT.ok;
    }
    return withClient(args, ctx, async (client) => {
      const task = await client.cancel(args.positionals[0]!);
      ctx.out(args.booleans.json ? toJson(task) : showTask(task));
      return EXIT.ok;
    });
  },
};
