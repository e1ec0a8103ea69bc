#!/usr/bin/env bun
// Entry of the `tq-broker` executable: picks the subcommand from the table, runs it, and turns
// what it throws into a message and an exit code. Holds no command logic of its own.

import { CorruptDatabaseError } from "../store/sqlite/schema.ts";
import { TlsConfigError } from "../tls.ts";
import { ConfigError, formatConfigErrors, ListenError } from "../config/index.ts";
import { DataDirError } from "../store/data-dir.ts";
import { PostgresOpenError } from "../app-store.ts";
import type { CliContext, Command } from "./command.ts";
import { COMMANDS } from "./commands.ts";
import { EXIT, HelpRequested, UsageError, type ExitCode } from "./exit-codes.ts";
import { overview } from "./help-command.ts";
import { withoutGlobalFlags } from "./global-flags.ts";
import { flushStdio, stderr, stdout } from "./stdio.ts";

export async function main(argv: readonly string[], ctx: CliContext): Promise<ExitCode> {
  const global = withoutGlobalFlags(argv);
  if (global.noColor) ctx = { ...ctx, noColor: true };
  const [name, ...rest] = global.argv;
  if (name === undefined) {
    ctx.err(overview(ctx.commands));
    return EXIT.usage;
  }
  if (name === "--help" || name === "-h") {
    ctx.out(overview(ctx.commands));
    return EXIT.ok;
  }
  if (name === "--version" || name === "-V") return run(ctx.commands.find((c) => c.name === "version"), [], ctx, "version");
  return run(ctx.commands.find((c) => c.name === name), rest, ctx, name);
}

async function run(command: Command | undefined, argv: readonly string[], ctx: CliContext, name: string): Promise<ExitCode> {
  try {
    if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
    return await command.run(argv, ctx);
  } catch (err) {
    return report(err, command, ctx);
  }
}

function report(err: unknown, command: Command | undefined, ctx: CliContext): ExitCode {
  if (err instanceof HelpRequested && command !== undefined) {
    ctx.out(command.help);
    return EXIT.ok;
  }
  if (err instanceof UsageError) {
    const where = command === undefined ? "tq-broker" : `tq-broker ${command.name}`;
    const hint = command === undefined ? "Run 'tq-broker help' for the list of commands." : `Run 'tq-broker ${command.name} --help' for usage.`;
    ctx.err(`${where}: ${err.message}\n${hint}`);
    return EXIT.usage;
  }
  if (err instanceof ConfigError) {
    const n = err.problems.length;
    ctx.err(`tq-broker: invalid configuration (${n} problem${n === 1 ? "" : "s"}):\n${indent(formatConfigErrors(err))}`);
    return EXIT.config;
  }
  if (err instanceof TlsConfigError) {
    ctx.err(`tq-broker: invalid configuration: ${err.message}`);
    return EXIT.config;
  }
  if (err instanceof CorruptDatabaseError) {
    ctx.err(`tq-broker: ${err.message}\nRestore the data dir from a backup, or move it aside to start empty.`);
    return EXIT.corruptData;
  }
  if (err instanceof DataDirError || err instanceof ListenError || err instanceof PostgresOpenError) {
    ctx.err(`tq-broker: ${err.message}`);
    return EXIT.failure;
  }
  ctx.err(`tq-broker: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return EXIT.failure;
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n");
}

if (import.meta.main) {
  const ctx: CliContext = {
    env: process.env,
    out: (text) => stdout.write(`${text}\n`),
    err: (text) => stderr.write(`${text}\n`),
    errWrite: (text) => stderr.write(text),
    commands: COMMANDS,
    terminal: { stdout: process.stdout.isTTY === true, stderr: process.stderr.isTTY === true, columns: process.stderr.columns },
    ...(process.stdin.isTTY === true
      ? {
          async ask(question: string) {
            stderr.write(question);
            for await (const line of console) return line;
            return "";
          },
        }
      : {}),
  };
  const code = await main(process.argv.slice(2), ctx);
  // Everything printed must reach a slow pipe or file before the process ends.
  await flushStdio();
  // Explicit exit: a part that forgot to close a handle must not keep a finished CLI alive.
  process.exit(code);
}
