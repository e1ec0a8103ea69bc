// Launches the real `tq-broker serve` (from source) as a child for chaos tests, without waiting
// for it: a test may kill it before it listens (during recovery). Also reads a child's RSS and CPU
// time from /proc. Owns only the child it starts; never signals anything else.

import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Subprocess } from "bun";

const MAIN = resolve(import.meta.dir, "../../../src/cli/main.ts");
/** The log line a broker writes once it accepts connections (the group is its port). */
export const LISTENING_LOG = /"msg":"listening","key":"broker\.port","address":"[^"]*:(\d+)"/;

export interface LaunchOptions {
  dataDir: string;
  /** Config overrides as TQ_<SECTION>_<KEY> variables. */
  env?: Record<string, string>;
  /** A shell line run before exec'ing the broker, e.g. "ulimit -n 64". */
  shellPrefix?: string;
  /** Runs the broker as this user through setpriv (root only). */
  asUser?: { uid: number; gid: number };
  /** More `serve` arguments, e.g. ["--accept-data-loss"]. */
  args?: string[];
}

export interface LaunchedBroker {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  pid: number;
  dataDir: string;
  output(): string;
  exited: Promise<number>;
  /** The TCP port once it logs "listening"; rejects if it exits first or takes over timeoutMs. */
  listening(timeoutMs?: number): Promise<number>;
}

export function launchBroker(options: LaunchOptions): LaunchedBroker {
  let command = [process.execPath, MAIN, "serve", "--port", "0", "--data-dir", options.dataDir, ...(options.args ?? [])];
  if (options.asUser) command = ["setpriv", `--reuid=${options.asUser.uid}`, `--regid=${options.asUser.gid}`, "--clear-groups", ...command];
  if (options.shellPrefix !== undefined) command = ["bash", "-c", `${options.shellPrefix}; exec "$@"`, "bash", ...command];
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("TQ_")) env[k] = v;
  const proc = Bun.spawn(command, {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: {
      ...env,
      TQ_BROKER_HOST: "127.0.0.1",
      TQ_API_REST_PORT: "0", TQ_API_GRPC_PORT: "0",
      TQ_MONITORING_PROMETHEUS_PORT: "0",
      TQ_MONITORING_LOG_LEVEL: "info",
      TQ_MONITORING_JSON_LOGGING: "true",
      ...options.env,
    },
  });
  let text = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>): Promise<void> => {
    for await (const chunk of stream) {
      // Keep the head (start-up lines) and a tail: a long run must not grow the test's memory.
      text += decoder.decode(chunk, { stream: true });
      if (text.length > 1_000_000) text = text.slice(0, 200_000) + "\n...\n" + text.slice(-200_000);
    }
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  let exitCode: number | null = null;
  const exited = proc.exited.then((code) => {
    exitCode = code;
    return code;
  });
  return {
    proc,
    pid: proc.pid,
    dataDir: options.dataDir,
    output: () => text,
    exited,
    async listening(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = LISTENING_LOG.exec(text);
        if (match) return Number(match[1]);
        if (exitCode !== null) throw new Error(`broker exited with ${exitCode} before listening:\n${text.slice(-4000)}`);
        if (Date.now() > deadline) throw new Error(`broker did not listen within ${timeoutMs} ms:\n${text.slice(-4000)}`);
        await Bun.sleep(10);
      }
    },
  };
}

/** Resident set size of a live process in KiB, or null once it is gone. */
export function rssKiB(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** User + system CPU time of a process in clock ticks (1/100 s on Linux), or null once gone. */
export function cpuTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name, which may itself hold spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

/** Open file descriptors of a live process, or null once it is gone. */
export function openFds(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/** SIGKILLs the child if it is still running and waits for it; for afterAll/finally. */
export async function reap(broker: LaunchedBroker | null | undefined): Promise<void> {
  if (!broker) return;
  if (broker.proc.exitCode === null && broker.proc.signalCode === null) broker.proc.kill("SIGKILL");
  await broker.exited;
}
