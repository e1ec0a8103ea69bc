// `tq-broker version [--json]`: prints the version; nothing else.

import type { Command } from "./command.ts";
import { EXIT } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";
import { versionInfo } from "../version.ts";

const spec: ArgsSpec = { flags: { json: { type: "boolean", description: "print name, version, build, commit, bun and platform as JSON" } } };

export const versionCommand: Command = {
  name: "version",
  summary: "print the version",
  flags: spec.flags,
  help: `usage: tq-broker version [--json]\n\nPrints the version of this tq-broker.\n\noptions:\n${formatFlags(spec.flags)}`,
  async run(argv, ctx) {
    const args = parseArgs(argv, spec);
    const info = versionInfo();
    ctx.out(args.booleans.json === true ? JSON.stringify(info) : `tq-broker ${info.version} (${info.build}, commit ${info.commit}, bun ${info.bun}, ${info.platform})`);
    return EXIT.ok;
  },
};
