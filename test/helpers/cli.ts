// Runs the tq-broker CLI as a subprocess (from source by default, or a compiled binary), on pipes
// or on a pseudo-terminal (script(1)), and waits for its output, bounded by timeouts. Test-only.

import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

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

/** A word for sh -c: single-quoted. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}

let ttyRuns = 0;

/** What a command printed on a terminal: stdout and stderr together, as the person saw them. */
export interface TerminalResult {
  exitCode: number;
  /** Everything written to the pseudo-terminal, "\r\n" turned into "\n", script(1)'s own lines left out. */
  output: string;
}

/** TERM a real terminal would have; the test runner's own may be "dumb" or unset. */
const TERMINAL_ENV = { TERM: "xterm-256color" };

function scriptOutput(file: string): string {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return "";
  }
  return text
    .replaceAll("\r\n", "\n")
    .split("\n")
    .filter((line) => !/^Script (started|done) on /.test(line))
    .join("\n");
}

/**
 * Runs a command on a pseudo-terminal made by script(1), as a person at a terminal would (stdout
 * and stderr are the tty; stdin is /dev/null). Ends on its own, bounded by timeoutMs.
 */
export async function runCliOnTerminal(args: readonly string[], options: CliOptions, timeoutMs = 30_000): Promise<TerminalResult> {
  const file = join(options.cwd, `tty-${process.pid}-${ttyRuns++}.out`);
  const inner = command(args, options.bin).map(shellQuote).join(" ");
  const proc = Bun.spawn(["script", "-qefc", inner, file], { cwd: options.cwd, env: cleanEnv({ ...TERMINAL_ENV, ...options.env }), stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const exitCode = await proc.exited;
  clearTimeout(timer);
  return { exitCode, output: scriptOutput(file) };
}

export interface RunningTerminalCli {
  /** PID of the CLI process itself (not of script(1)). */
  pid(): number;
  output(): string;
  /** Resolves once the terminal shows `text`; rejects after timeoutMs or if it ended first. */
  waitForOutput(text: string, timeoutMs?: number): Promise<void>;
  /** Sends `signal` to the CLI process by its PID and resolves with script(1)'s exit code (the CLI's). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number>;
}

/** Starts a long-running command (serve) on a pseudo-terminal; its PID is read from a file it writes first. */
export function spawnCliOnTerminal(args: readonly string[], options: CliOptions): RunningTerminalCli {
  const n = ttyRuns++;
  const file = join(options.cwd, `tty-${process.pid}-${n}.out`);
  const pidFile = join(options.cwd, `tty-${process.pid}-${n}.pid`);
  // exec keeps the shell's PID for the CLI, so $$ is the CLI's PID.
  const inner = `echo $$ > ${shellQuote(pidFile)}; exec ${command(args, options.bin).map(shellQuote).join(" ")}`;
  const proc = Bun.spawn(["script", "-qefc", inner, file], { cwd: options.cwd, env: cleanEnv({ ...TERMINAL_ENV, ...options.env }), stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  let exited = false;
  void proc.exited.then(() => (exited = true));
  const pid = (): number => Number(readFileSync(pidFile, "utf8").trim());
  return {
    pid,
    output: () => scriptOutput(file),
    async waitForOutput(text, timeoutMs = 15_000) {
      const deadline = performance.now() + timeoutMs;
      while (!scriptOutput(file).includes(text)) {
        if (exited) throw new Error(`the command ended before showing ${JSON.stringify(text)}:\n${scriptOutput(file)}`);
        if (performance.now() > deadline) throw new Error(`timed out waiting for ${JSON.stringify(text)}:\n${scriptOutput(file)}`);
        await Bun.sleep(25);
      }
    },
    async stop(signal = "SIGTERM", timeoutMs = 15_000) {
      // Once script(1) has ended, the CLI has too: its PID may belong to someone else by now.
      if (!exited) process.kill(pid(), signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
      const code = await proc.exited;
      clearTimeout(timer);
      return code;
    },
  };
}
