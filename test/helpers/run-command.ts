// Runs an external program (npm, tsc, node, tar, sha256sum) to completion for a test, bounded by a
// timeout, and returns its exit code and output. Test-only.

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  cwd: string;
  /** The whole environment of the child (nothing is inherited when given). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export async function runCommand(cmd: readonly string[], options: CommandOptions): Promise<CommandResult> {
  const proc = Bun.spawn([...cmd], { cwd: options.cwd, env: options.env ?? inheritedEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 60_000);
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { exitCode, stdout, stderr };
}

/** Fails the test with the command's output when it did not exit 0. */
export async function mustRun(cmd: readonly string[], options: CommandOptions): Promise<CommandResult> {
  const r = await runCommand(cmd, options);
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} exited ${r.exitCode}\n${r.stdout}${r.stderr}`);
  return r;
}

/** This process's environment minus TQ_* variables, which must not leak into the child. */
export function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("TQ_")) env[k] = v;
  return env;
}
