// selfCommand: how to start this same program again as a child (agents, a spawned broker),
// whether it runs as the compiled `tq-broker` binary or from source under bun. Spawns nothing.

import { resolve } from "node:path";

/** The CLI entry when running from source; a compiled binary carries it inside. */
const SOURCE_ENTRY = resolve(import.meta.dir, "../cli/main.ts");

/** True inside a `bun build --compile` executable, whose modules live in Bun's embedded file system. */
export function isCompiled(): boolean {
  return import.meta.path.includes("$bunfs") || Bun.main.includes("$bunfs");
}

/**
 * argv prefix that runs `tq-broker` again: [binary] when compiled, else [bun, src/cli/main.ts].
 * `runtimeArgs` (e.g. --cpu-prof) go to bun before the entry and only exist from source.
 */
export function selfCommand(runtimeArgs: readonly string[] = []): string[] {
  if (isCompiled()) return [process.execPath];
  return [process.execPath, ...runtimeArgs, SOURCE_ENTRY];
}

/**
 * The environment for a child: `env` plus Bun's --no-orphans (through BUN_OPTIONS, which the
 * compiled binary honours too), so a bench that is killed takes its broker and agents with it.
 */
export function childEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  out.BUN_OPTIONS = `${out.BUN_OPTIONS ?? ""} --no-orphans`.trim();
  return out;
}
