// Runs the real CLI (`serve`) as a child process on a temp data dir with port 0, and learns its
// port from the "listening" log line. For tests that signal or kill the broker.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

const MAIN = resolve(import.meta.dir, "../../src/cli/main.ts");

export interface BrokerProcess {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  port: number;
  dataDir: string;
  /** Everything it printed so far. */
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number>;
}

/** Starts `tq-broker serve`; `command` defaults to running the source with this Bun. */
export async function spawnBroker(options: { dataDir?: string; args?: string[]; env?: Record<string, string>; command?: string[] } = {}): Promise<BrokerProcess> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "tq-proc-"));
  const command = options.command ?? [process.execPath, MAIN];
  const proc = Bun.spawn([...command, "serve", "--port", "0", "--data-dir", dataDir, ...(options.args ?? [])], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: {
      ...process.env,
      TQ_BROKER_HOST: "127.0.0.1",
      TQ_API_REST_PORT: "0", TQ_API_GRPC_PORT: "0",
      TQ_MONITORING_PROMETHEUS_PORT: "0",
      ...options.env,
    },
  });
  let text = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>): Promise<void> => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const match = /"msg":"listening","key":"broker\.port","address":"[^"]*:(\d+)"/.exec(text);
    if (match) {
      return { proc, port: Number(match[1]), dataDir, output: () => text, exited: proc.exited };
    }
    if (proc.exitCode !== null) throw new Error(`broker exited with ${proc.exitCode} before listening:\n${text}`);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`broker did not report listening within 15 s:\n${text}`);
    }
    await Bun.sleep(20);
  }
}
