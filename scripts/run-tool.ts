// Runs one build tool (tsc, bun build, tar, npm) to completion for build.ts and its helpers, and
// prints the tool's output only when it fails.

export interface ToolResult {
  ok: boolean;
  output: string;
}

export function runTool(cmd: string[], cwd: string, what: string): ToolResult {
  let proc: Bun.SyncSubprocess<"pipe", "pipe">;
  try {
    proc = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  } catch (err) {
    // Bun throws, instead of failing the process, when the executable is not on PATH.
    console.error(`build: ${what} failed: cannot run ${cmd[0]}: ${err instanceof Error ? err.message : String(err)}`);
    return { ok: false, output: "" };
  }
  const output = `${proc.stdout.toString()}${proc.stderr.toString()}`;
  if (!proc.success) console.error(`build: ${what} failed (exit ${proc.exitCode})\n${output.trimEnd()}`);
  return { ok: proc.success, output };
}
