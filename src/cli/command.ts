// The shape of a subcommand and what it receives. A new subcommand is one file exporting a
// Command plus one line in commands.ts; no subcommand reads process.argv or exits the process.

import type { ExitCode } from "./exit-codes.ts";
import type { FlagSpec } from "./parse-args.ts";

export interface CliContext {
  /** Usually process.env; config env overrides are read from here. */
  env: Readonly<Record<string, string | undefined>>;
  /** Writes a line (newline added) to stdout. */
  out(text: string): void;
  /** Writes a line (newline added) to stderr. */
  err(text: string): void;
  /** Writes text to stderr as it is (no newline): for a line redrawn in place. Absent = no live display. */
  errWrite?(text: string): void;
  /** Every registered command, for `help` and `completion`. */
  commands: readonly Command[];
  /** Which streams are terminals: colours, redrawn progress and the serve banner are for people only. Absent = neither. */
  terminal?: { stdout: boolean; stderr: boolean; /** Width of the stderr terminal; 0 or absent when unknown. */ columns?: number };
  /** `--no-color` was given (anywhere before `--`). */
  noColor?: boolean;
  /** Asks a person a question on the terminal and resolves with the line typed; absent when stdin is not a terminal. */
  ask?(question: string): Promise<string>;
}

export interface Command {
  /** The word after `tq-broker`, e.g. "serve". */
  name: string;
  /** One line for `tq-broker help`. */
  summary: string;
  /** Full --help text. */
  help: string;
  /** Internal (started by another command, not by hand): left out of `tq-broker help` and completion. */
  hidden?: boolean;
  /** The options parseArgs reads, for shell completion (the same table, never a copy). */
  flags?: Readonly<Record<string, FlagSpec>>;
  /** Words that may follow the command (`tasks list`, `config check`), each with its own options. */
  actions?: Readonly<Record<string, Readonly<Record<string, FlagSpec>>>>;
  /** The first positional names another command (`help COMMAND`), for completion. */
  positional?: "command";
  /** Runs with the arguments after the command name. */
  run(argv: readonly string[], ctx: CliContext): Promise<ExitCode>;
}
