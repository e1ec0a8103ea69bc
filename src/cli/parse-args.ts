// parseArgs: the one command-line parser every subcommand uses. Knows flags and positionals,
// nothing of config keys; mistakes throw UsageError (exit 64), --help throws HelpRequested (main
// prints the command's help, exit 0), so no command handles help itself.

import { HelpRequested, UsageError } from "./exit-codes.ts";

export interface FlagSpec {
  /** "string" takes a value (`--port 7000` or `--port=7000`); "boolean" takes none. */
  type: "string" | "boolean";
  /** Shown in --help. */
  description: string;
  /** Placeholder shown in --help, e.g. "FILE"; FILE and DIR also make completion offer paths. */
  valueName?: string;
  /** The values it accepts, for shell completion (the command still checks the value itself). */
  choices?: readonly string[];
}

export interface ArgsSpec {
  flags: Readonly<Record<string, FlagSpec>>;
  /** Names of the positionals, in order, for messages; extra positionals are an error. */
  positionals?: readonly string[];
  /** Positionals that must be present (a prefix of `positionals`). */
  requiredPositionals?: number;
}

export interface ParsedArgs {
  strings: Record<string, string>;
  booleans: Record<string, boolean>;
  positionals: string[];
}

export function parseArgs(argv: readonly string[], spec: ArgsSpec): ParsedArgs {
  const out: ParsedArgs = { strings: {}, booleans: {}, positionals: [] };
  let help = false;
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (onlyPositionals || !arg.startsWith("-") || arg === "-") {
      out.positionals.push(arg);
      continue;
    }
    if (arg === "--") {
      onlyPositionals = true;
      continue;
    }
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") ? arg.slice(2, eq === -1 ? undefined : eq) : "";
    const flag = spec.flags[name];
    if (name === "" || flag === undefined) {
      const known = Object.keys(spec.flags).map((f) => `--${f}`);
      throw new UsageError(`unknown option ${eq === -1 ? arg : arg.slice(0, eq)}${known.length > 0 ? ` (options: ${known.join(", ")})` : ""}`);
    }
    if (flag.type === "boolean") {
      if (eq !== -1) throw new UsageError(`option --${name} takes no value`);
      out.booleans[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined || (eq === -1 && value.startsWith("--"))) {
      throw new UsageError(`option --${name} needs a value${flag.valueName === undefined ? "" : ` (${flag.valueName})`}`);
    }
    out.strings[name] = value;
  }
  if (help) throw new HelpRequested();
  const names = spec.positionals ?? [];
  const required = spec.requiredPositionals ?? 0;
  if (out.positionals.length < required) {
    throw new UsageError(`missing ${names.slice(out.positionals.length, required).join(" ")}`);
  }
  if (out.positionals.length > names.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(out.positionals[names.length])}`);
  }
  return out;
}

/** The options block of a --help text, one flag a line. */
export function formatFlags(flags: Readonly<Record<string, FlagSpec>>): string {
  const rows = Object.entries(flags).map(([name, f]) => [`--${name}${f.valueName === undefined ? "" : ` ${f.valueName}`}`, f.description] as const);
  rows.push(["--help, -h", "show this help"]);
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`).join("\n");
}
