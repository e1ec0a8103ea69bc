// The shape of `status ID`, `cancel ID` and `retry ID`: one task id in, one Client call, the
// task printed as text or JSON. Each command file says only its words and which call it makes.

import type { Client } from "../client/client.ts";
import type { Task } from "../client/task-view.ts";
import { CLIENT_FLAGS, showTask, toJson, withClient } from "./client-options.ts";
import type { Command } from "./command.ts";
import { EXIT } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";

const spec: ArgsSpec = { flags: CLIENT_FLAGS, positionals: ["ID"], requiredPositionals: 1 };

export interface TaskIdCommandSpec {
  name: string;
  summary: string;
  /** What the command does, in a sentence or two, for --help. */
  description: string;
  call(client: Client, id: string): Promise<Task>;
}

export function taskIdCommand(s: TaskIdCommandSpec): Command {
  return {
    name: s.name,
    summary: s.summary,
    help: `usage: tq-broker ${s.name} ID [--url URL] [--api-key KEY] [--json]

${s.description}

options:
${formatFlags(spec.flags)}`,
    async run(argv, ctx) {
      const args = parseArgs(argv, spec);
      if (args.help) {
        ctx.out(this.help);
        return EXIT.ok;
      }
      return withClient(args, ctx, async (client) => {
        const task = await s.call(client, args.positionals[0]!);
        ctx.out(args.booleans.json ? toJson(task) : showTask(task));
        return EXIT.ok;
      });
    },
  };
}
