// `tq-broker help [COMMAND]`: the command list, or one command's --help text.

import type { Command, CliContext } from "./command.ts";
import { EXIT, UsageError } from "./exit-codes.ts";
import { GLOBAL_FLAGS } from "./global-flags.ts";
import { formatFlags, parseArgs } from "./parse-args.ts";

export const EXIT_CODES_HELP = `exit codes:
  0   ok
  1   runtime failure (data dir in use or unwritable, port in use, crash)
  64  usage error (unknown command or option, missing argument, an invalid value such as
      --priority urgent or a task id that is not a UUID)
  65  corrupt database file (restore it from a backup or move it aside)
  75  submit --wait ran out before the task finished (the task exists; check it later)
  78  configuration error (the broker would not start with this config)`;

export function overview(all: readonly Command[]): string {
  const commands = all.filter((c) => c.hidden !== true);
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `usage: tq-broker <command> [options]\n\ncommands:\n${lines.join("\n")}\n\nRun 'tq-broker <command> --help' for a command's options.\n\noptions of every command:\n${formatFlags(GLOBAL_FLAGS)}\n\n${EXIT_CODES_HELP}`;
}

export const helpCommand: Command = {
  name: "help",
  summary: "show this list, or help for one command",
  positional: "command",
  help: "usage: tq-broker help [COMMAND]\n\nLists the commands, or prints the help of COMMAND.",
  async run(argv, ctx: CliContext) {
    const args = parseArgs(argv, { flags: {}, positionals: ["COMMAND"] });
    const name = args.positionals[0];
    if (name === undefined) {
      ctx.out(overview(ctx.commands));
      return EXIT.ok;
    }
    const command = ctx.commands.find((c) => c.name === name);
    if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
    ctx.out(command.help);
    return EXIT.ok;
  },
};
