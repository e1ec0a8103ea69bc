// Runs the tq-broker CLI as a subprocess (from source by default, or a compiled binary) and
// waits for its output, bounded by timeouts. Test-only; starts nothing else.

import { resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dir, "../..");
export const CLI_ENTRY = resolve(REPO_ROOT, "src/cli/main.ts");

export interface CliOptions {
  /** Working directory; tests pass a fresh temp dir. */
  cwd: string;
  /** Extra env vars; TQ_* from the test runner's own env are dropped so they cannot leak in. */
  env?: Record<string, string>;
  /** Path of a compiled executable; default runs src/cli/main.ts with the current bun. */
  bin?: string;
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function command(args: readonly string[], bin: string | undefined): string[] {
  return bin === undefined ? [process.execPath, CLI_ENTRY, ...args] : [bin, ...args];
}

function cleanEnv(extra: Record<string, string> | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("TQ_")) env[k] = v;
  return { ...env, ...extra };
}

/** Runs a command that ends on its own (version, config check, a refused serve). */
export async function runCli(args: readonly string[], options: CliOptions, timeoutMs = 20_000): Promise<CliResult> {
  const proc = Bun.spawn(command(args, options.bin), { cwd: options.cwd, env: cleanEnv(options.env), stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { exitCode, stdout, stderr };
}

export interface RunningCli {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Everything read from stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout contains `text`; rejects if the process exits first or after timeoutMs. */
  waitForStdout(text: string, timeoutMs?: number): Promise<void>;
  /** Sends a signal and resolves with the exit code (SIGKILL after timeoutMs). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number>;
}

/** Starts a long-running command (serve) and collects its output as it arrives. */
export function spawnCli(args: readonly string[], options: CliOptions): RunningCli {
  const proc = Bun.spawn(command(args, options.bin), { cwd: options.cwd, env: cleanEnv(options.env), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>, add: (s: string) => void): Promise<void> => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      add(decoder.decode(chunk, { stream: true }));
      for (const w of waiters) w();
    }
  };
  void pump(proc.stdout, (s) => (out += s));
  void pump(proc.stderr, (s) => (err += s));
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
    for (const w of waiters) w();
  });

  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    waitForStdout(text, timeoutMs = 15_000) {
      return new Promise((resolvePromise, reject) => {
        const check = (): void => {
          if (out.includes(text)) done(() => resolvePromise());
          else if (exited) done(() => reject(new Error(`process exited before printing ${JSON.stringify(text)}\nstdout: ${out}\nstderr: ${err}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${JSON.stringify(text)}\nstdout: ${out}\nstderr: ${err}`))), timeoutMs);
        const done = (finish: () => void): void => {
          clearTimeout(timer);
          waiters.delete(check);
          finish();
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = "SIGTERM", timeoutMs = 15_000) {
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
      const code = await proc.exited;
      clearTimeout(timer);
      return code;
    },
  };
}
