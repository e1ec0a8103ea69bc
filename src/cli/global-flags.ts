// Options every command takes, taken out of argv by main before a command's own parser sees it;
// the table is also what completion offers. No command reads these itself: they arrive in CliContext.

import type { FlagSpec } from "./parse-args.ts";

export const GLOBAL_FLAGS: Readonly<Record<string, FlagSpec>> = {
  "no-color": { type: "boolean", description: "no colours, even on a terminal (as NO_COLOR=1 does)" },
};

/** `--no-color` may stand anywhere before `--`, as in `tq-broker --no-color tasks list`. */
export function withoutGlobalFlags(argv: readonly string[]): { argv: string[]; noColor: boolean } {
  const end = argv.indexOf("--");
  const flagsPart = end === -1 ? argv : argv.slice(0, end);
  const kept = flagsPart.filter((a) => a !== "--no-color");
  return { argv: [...kept, ...(end === -1 ? [] : argv.slice(end))], noColor: kept.length !== flagsPart.length };
}
