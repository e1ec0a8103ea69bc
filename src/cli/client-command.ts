// The shape every read-style client command shares: parse flags, answer --help, run with a
// Client made from --url/--api-key, print as text or JSON. `status ID`, `cancel ID` and `retry ID`
// differ only in their words and the one Client call they make.

import type { Client } from "../client/client.ts";
import type { Task } from "../client/task-view.ts";
import { CLIENT_FLAGS, showTask, toJson, withClient } from "./client-options.ts";
import type { CliContext, Command } from "./command.ts";
import { isUuid } from "../protocol/uuid.ts";
import { EXIT, UsageError, type ExitCode } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec, type ParsedArgs } from "./parse-args.ts";
import { styleFor } from "./style.ts";

export interface ClientCommandSpec {
  name: string;
  summary: string;
  /** Positional arguments after the flags, e.g. ["ID"]; all required. */
  positionals?: string[];
  /** What the command does, for --help. */
  description: string;
  /** Checks the arguments before connecting; throws UsageError (exit 64) for what is wrong. */
  check?(args: ParsedArgs): void;
  /** Does the work; prints text unless --json. */
  run(client: Client, args: ParsedArgs, ctx: CliContext): Promise<ExitCode>;
}

export function clientCommand(s: ClientCommandSpec): Command {
  const positionals = s.positionals ?? [];
  const spec: ArgsSpec = { flags: CLIENT_FLAGS, positionals, requiredPositionals: positionals.length };
  const usage = [`tq-broker ${s.name}`, ...positionals, "[--url URL] [--api-key KEY] [--json]"].join(" ");
  return {
    name: s.name,
    summary: s.summary,
    flags: spec.flags,
    help: `usage: ${usage}

${s.description}

options:
${formatFlags(spec.flags)}`,
    async run(argv, ctx) {
      const args = parseArgs(argv, spec);
      s.check?.(args);
      return withClient(args, ctx, (client) => s.run(client, args, ctx));
    },
  };
}

export interface TaskIdCommandSpec {
  name: string;
  summary: string;
  description: string;
  call(client: Client, id: string): Promise<Task>;
}

export function taskIdCommand(s: TaskIdCommandSpec): Command {
  return clientCommand({
    name: s.name,
    summary: s.summary,
    positionals: ["ID"],
    description: s.description,
    check(args) {
      const id = args.positionals[0]!;
      if (!isUuid(id)) throw new UsageError(`ID ${JSON.stringify(id)} is not a task id (expected a UUID like 0190f3a2-7b1c-7def-8a12-3456789abcde)`);
    },
    async run(client, args, ctx) {
      const task = await s.call(client, args.positionals[0]!);
      ctx.out(args.booleans.json ? toJson(task) : showTask(task, styleFor(ctx, "stdout")));
      return EXIT.ok;
    },
  });
}
