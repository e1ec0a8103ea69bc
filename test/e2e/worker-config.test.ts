// `tq-broker worker --config FILE` reads the worker section (concurrency, heartbeat interval,
// graceful shutdown timeout) of the same YAML the broker reads; flags beat TQ_WORKER_* env, env
// beats the file; a bad value exits 78 naming the key. Real CLI processes against a real broker.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "../../src/index.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { runCli, spawnCli, type RunningCli } from "../helpers/cli.ts";

let broker: TestBroker;
let client: Client;
let dir: string;
let url: string;

beforeAll(async () => {
  broker = await startBroker();
  url = `tq://127.0.0.1:${broker.port}`;
  client = new Client({ url, env: {} });
  dir = mkdtempSync(join(tmpdir(), "tq-worker-config-"));
  // "slow" marks that it runs, then runs until its signal fires: only the graceful timeout ends it.
  writeFileSync(
    join(dir, "handlers.ts"),
    `import { writeFileSync } from "node:fs";
export default {
  slow: (task: { id: string }, ctx: { signal: AbortSignal }) => {
    writeFileSync("running-" + task.id, "");
    return new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve("aborted")));
  },
};
`,
  );
});

afterAll(async () => {
  await client.close();
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

function configFile(name: string, worker: string): string {
  const path = join(dir, name);
  writeFileSync(path, `broker:\n  port: 6379\nworker:\n${worker}`);
  return path;
}

interface Started {
  event: string;
  workerId: string;
  concurrency: number;
  prefetch: number | "auto";
}

async function startWorker(args: string[], env: Record<string, string> = {}): Promise<{ cli: RunningCli; started: Started }> {
  const cli = spawnCli(["worker", "--handlers", "handlers.ts", "--json", ...args], { cwd: dir, env: { TQ_URL: url, ...env } });
  await cli.waitForStdout('"event":"started"');
  const line = cli.stdout().split("\n").find((l) => l.includes('"event":"started"'))!;
  return { cli, started: JSON.parse(line) as Started };
}

async function lastSeen(id: string): Promise<number> {
  const w = (await client.workers()).find((x) => x.id === id);
  return Number(w?.lastSeenAtMs);
}

describe("worker --config", () => {
  test("concurrency, heartbeat interval and graceful shutdown come from the file's worker section", async () => {
    const file = configFile("worker.yaml", "  concurrency: 3\n  heartbeat_interval_secs: 0.2\n  graceful_shutdown_timeout_secs: 0.5\n");
    const { cli, started } = await startWorker(["--config", file, "--queues", "wc-file", "--worker-id", "wc-file"]);
    try {
      expect(started.concurrency).toBe(3);
      expect((await client.workers()).find((w) => w.id === "wc-file")?.concurrency).toBe(3);

      // The broker announces 15 s; heartbeats every 0.2 s keep moving "last seen" within a second.
      // Real time on purpose: the heartbeat timer is the worker process's own, not the broker's.
      const before = await lastSeen("wc-file");
      await Bun.sleep(1000);
      expect(await lastSeen("wc-file")).toBeGreaterThan(before);

      const { id } = await client.submit("slow", null, { queue: "wc-file" });
      const deadline = Date.now() + 10_000;
      // Polls for the worker process to start the task (a file it writes); no broker timer is involved.
      while (!existsSync(join(dir, `running-${id}`)) && Date.now() < deadline) await Bun.sleep(20);
      expect(existsSync(join(dir, `running-${id}`))).toBe(true);
      // SIGTERM: the running task gets 0.5 s (not the default 60 s), then is handed back.
      const t0 = performance.now();
      expect(await cli.stop("SIGTERM", 20_000)).toBe(0);
      const stopMs = performance.now() - t0;
      console.log(`worker stop with graceful_shutdown_timeout_secs 0.5 took ${stopMs.toFixed(0)} ms`);
      expect(stopMs).toBeGreaterThanOrEqual(400);
      expect(stopMs).toBeLessThan(10_000);
    } finally {
      cli.proc.kill("SIGKILL");
    }
  }, 30_000);

  test("left at its default, the heartbeat follows the broker's announced interval (15 s), not the worker's guess", async () => {
    const file = configFile("no-heartbeat.yaml", "  concurrency: 2\n");
    const { cli } = await startWorker(["--config", file, "--queues", "wc-default", "--worker-id", "wc-default"]);
    try {
      const before = await lastSeen("wc-default");
      // Real time on purpose: the heartbeat timer is the worker process's own, not the broker's.
      await Bun.sleep(700);
      expect(await lastSeen("wc-default")).toBe(before);
    } finally {
      await cli.stop("SIGTERM", 20_000);
    }
  }, 30_000);

  test("TQ_WORKER_* env beats the file, a flag beats both", async () => {
    const file = configFile("env.yaml", "  concurrency: 3\n");
    const env = await startWorker(["--config", file, "--queues", "wc-env"], { TQ_WORKER_CONCURRENCY: "5" });
    expect(env.started.concurrency).toBe(5);
    // The prefetch (the subscription's credits) adapts to the handlers unless --prefetch fixes it.
    expect(env.started.prefetch).toBe("auto");
    expect(await env.cli.stop("SIGTERM", 20_000)).toBe(0);
    const flag = await startWorker(["--config", file, "--queues", "wc-env", "--concurrency", "2", "--prefetch", "3"], { TQ_WORKER_CONCURRENCY: "5" });
    expect(flag.started.concurrency).toBe(2);
    expect(flag.started.prefetch).toBe(3);
    expect(await flag.cli.stop("SIGTERM", 20_000)).toBe(0);
  }, 30_000);

  test("a heartbeat slower than the broker's is warned about on stderr", async () => {
    const file = configFile("slow-heartbeat.yaml", "  heartbeat_interval_secs: 40\n");
    const { cli } = await startWorker(["--config", file, "--queues", "wc-slow"]);
    expect(await cli.stop("SIGTERM", 20_000)).toBe(0);
    expect(cli.stderr()).toContain("warning: worker.heartbeat_interval_secs is 40 s but the broker expects a heartbeat every 15 s");
  }, 30_000);

  test("a bad worker value in the file exits 78 naming the key and the line", async () => {
    const file = configFile("bad.yaml", "  concurrency: 0\n");
    const r = await runCli(["worker", "--handlers", "handlers.ts", "--config", file], { cwd: dir, env: { TQ_URL: url } });
    expect(r.exitCode).toBe(78);
    expect(r.stderr).toContain(`worker.concurrency: expected an integer 1-10000, got 0 (${file} line 4)`);
  });
});
