// `tq-broker config check FILE` and `config print [--config FILE]`: validate or show a config
// without starting anything. Errors are thrown for main to report (ConfigError -> 78).

import { stringify } from "yaml";
import { ConfigError, configWarnings, loadConfig, maskSecrets } from "../config/index.ts";
import { renderDefaultYaml } from "../config/config-docs.ts";
import type { CliContext, Command } from "./command.ts";
import { EXIT, UsageError, type ExitCode } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";

const checkSpec: ArgsSpec = {
  flags: {
    env: { type: "boolean", description: "also apply TQ_* environment overrides, as serve would" },
    json: { type: "boolean", description: 'print one JSON document: {"file", "valid", "problems", "warnings"} (exit codes unchanged)' },
  },
  positionals: ["FILE"],
  requiredPositionals: 1,
};

const printSpec: ArgsSpec = {
  flags: {
    config: { type: "string", valueName: "FILE", description: "YAML config file (default: none, built-in defaults)" },
    json: { type: "boolean", description: "print JSON instead of YAML" },
    defaults: { type: "boolean", description: "print the commented default config (the shipped broker.yaml) and ignore env" },
  },
};

const HELP = `usage:
  tq-broker config check FILE [--env] [--json]
  tq-broker config print [--config FILE] [--json] [--defaults]

check: validates FILE and reports every problem at once (exit 0 if valid, 78 if not); settings
       that are valid but risky (API keys listed with auth off) are printed as warnings on stderr.
print: prints the effective config (defaults < FILE < TQ_* environment), API keys masked.

check options:
${formatFlags(checkSpec.flags)}

print options:
${formatFlags(printSpec.flags)}`;

export const configCommand: Command = {
  name: "config",
  summary: "check a config file, or print the effective config",
  actions: { check: checkSpec.flags, print: printSpec.flags },
  help: HELP,
  async run(argv, ctx) {
    const [action, ...rest] = argv;
    if (action === undefined || action === "--help" || action === "-h" || action === "help") {
      if (action === undefined) throw new UsageError("missing action: check or print");
      ctx.out(HELP);
      return EXIT.ok;
    }
    if (action === "check") {
      const args = parseArgs(rest, checkSpec);
      const file = args.positionals[0] ?? "";
      const env = args.booleans.env === true ? ctx.env : {};
      if (args.booleans.json === true) return checkAsJson(file, env, ctx);
      const config = loadConfig({ file, env });
      // Valid, so exit 0; but what serve would warn about at start is said here too.
      for (const w of configWarnings(config)) ctx.err(`warning: ${w.path}: ${w.message}`);
      ctx.out(`${file}: ok`);
      return EXIT.ok;
    }
    if (action === "print") {
      const args = parseArgs(rest, printSpec);
      if (args.booleans.defaults === true) {
        ctx.out(renderDefaultYaml().trimEnd());
        return EXIT.ok;
      }
      const config = maskSecrets(loadConfig({ file: args.strings.config, env: ctx.env }));
      ctx.out(args.booleans.json === true ? JSON.stringify(config, null, 2) : stringify(config).trimEnd());
      return EXIT.ok;
    }
    throw new UsageError(`unknown action ${JSON.stringify(action)}: expected check or print`);
  },
};

/** `config check --json`: the verdict as one document on stdout, for a script; exit 0 or 78 as in text. */
function checkAsJson(file: string, env: CliContext["env"], ctx: CliContext): ExitCode {
  try {
    const warnings = configWarnings(loadConfig({ file, env }));
    ctx.out(JSON.stringify({ file, valid: true, problems: [], warnings }, null, 2));
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    ctx.out(JSON.stringify({ file, valid: false, problems: err.problems, warnings: [] }, null, 2));
    return EXIT.config;
  }
}
