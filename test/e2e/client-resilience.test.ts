// What users rely on when things go wrong: SIGTERM drains a worker process (in-flight tasks
// finish, the rest are handed back and run by another worker at once), and a client rides
// through a broker restart without losing any acknowledged submit.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Client, ConnectionError, Worker } from "../../src/index.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";

const ENTRY = resolve(import.meta.dir, "../../src/index.ts");
// Only to poll for a status the worker processes bring about; no broker timer is waited for.
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function waitForOutput(stdout: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
  let text = "";
  const reader = stdout.getReader();
  const deadline = Date.now() + 10_000;
  while (!lines.every((l) => text.includes(l))) {
    if (Date.now() > deadline) throw new Error(`worker did not print ${JSON.stringify(lines)}; got ${JSON.stringify(text)}`);
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
}

async function waitForStatus(client: Client, id: string, status: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if ((await client.status(id)).status === status) return;
    await sleep(25);
  }
  throw new Error(`task ${id} never reached ${status}`);
}

describe("graceful shutdown", () => {
  test("SIGTERM: the in-flight task finishes, the unfinished one is handed back and re-run by another worker", async () => {
    const broker = await startBroker({});
    const url = `tq://127.0.0.1:${broker.port}`;
    const client = new Client({ url, env: {} });
    const dir = mkdtempSync(join(tmpdir(), "tq-worker-proc-"));
    dirs.push(dir);
    const script = join(dir, "worker.ts");
    writeFileSync(
      script,
      `import { Worker } from ${JSON.stringify(ENTRY)};
const w = new Worker({ queues: ["graceful"], concurrency: 2, gracefulShutdownTimeoutMs: 1000, workerId: "proc-worker" });
// Finishes only after SIGTERM arrived: proves in-flight work completes during the drain.
w.register("finishes", () => new Promise((resolve) => {
  process.once("SIGTERM", () => setTimeout(() => resolve("finished in drain"), 50));
  console.log("running finishes");
}));
// Never finishes by itself: must be handed back when the drain times out.
w.register("hangs", (_t, ctx) => new Promise((resolve) => {
  ctx.signal.addEventListener("abort", () => resolve("aborted"));
  console.log("running hangs");
}));
await w.start();
`,
    );
    const finishes = await client.submit("finishes", null, { queue: "graceful" });
    const hangs = await client.submit("hangs", null, { queue: "graceful" });
    const proc = Bun.spawn([process.execPath, script], { env: { ...process.env, TQ_URL: url }, stdout: "pipe", stderr: "pipe" });
    const killer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
    let other: Worker | null = null;
    try {
      await waitForStatus(client, finishes.id, "in_progress");
      await waitForStatus(client, hangs.id, "in_progress");
      // Leased is not yet running: wait until both handlers have started in the worker process.
      await waitForOutput(proc.stdout, ["running finishes", "running hangs"]);
      proc.kill("SIGTERM");
      await proc.exited;
      expect(proc.signalCode === "SIGTERM" || proc.exitCode === 0).toBe(true);

      const done = await client.status(finishes.id);
      expect(done.status).toBe("completed");
      expect(done.result).toBe("finished in drain");
      const handedBack = await client.status(hangs.id);
      expect(handedBack.status).toBe("pending");
      expect(handedBack.attempts).toBe(0);

      other = new Worker({ url, env: {}, queues: ["graceful"], handleSignals: false, workerId: "other-worker" });
      other.register("hangs", () => "ran elsewhere");
      await other.start();
      expect(await client.result(hangs.id, { wait: 10_000 })).toBe("ran elsewhere");
      expect((await client.status(hangs.id)).workerId).toBe("other-worker");
      expect((await client.workers()).map((w) => w.id)).not.toContain("proc-worker");
    } finally {
      clearTimeout(killer);
      proc.kill("SIGKILL");
      await other?.stop();
      await client.close();
      await broker.stop();
    }
  }, 30_000);
});

describe("reconnect", () => {
  let broker: TestBroker | null = null;

  afterAll(async () => {
    await broker?.stop();
  });

  test("after a broker restart the client reconnects and every acknowledged submit is there", async () => {
    broker = await startBroker({ "persistence.sync": "full" });
    const port = broker.port;
    const dataDir = broker.dataDir;
    const client = new Client({ url: `tq://127.0.0.1:${port}`, env: {}, requestTimeoutMs: 10_000, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
    const acked: string[] = [];
    const unknown: unknown[] = [];
    let restarted = false;
    try {
      for (let i = 0; i < 200 && acked.length < 40; i++) {
        if (acked.length === 10 && !restarted) {
          restarted = true;
          const gone = new Promise((r) => client.channel.once("disconnected", r));
          await broker.stopKeepData();
          await gone;
          // Submits made while the broker is down wait for the reconnect instead of failing.
          const during = client.submit("restart", { i: "during" }, { queue: "restart" });
          broker = await startBroker({ "broker.port": port, "persistence.sync": "full" }, dataDir);
          acked.push((await during).id);
          continue;
        }
        try {
          acked.push((await client.submit("restart", { i }, { queue: "restart" })).id);
        } catch (err) {
          // Sent but unanswered when the broker went away: the client says so rather than guess.
          expect(err).toBeInstanceOf(ConnectionError);
          expect((err as ConnectionError).outcomeUnknown).toBe(true);
          unknown.push(err);
        }
      }
      expect(restarted).toBe(true);
      expect(acked.length).toBe(40);
      for (const id of acked) expect((await client.status(id)).id).toBe(id);
      // An idempotent submit is safe to resend, so it is: same key, same task, across the restart.
      const keyed = await client.submit("restart", null, { queue: "restart", idempotencyKey: "restart-key" });
      expect((await client.submit("restart", null, { queue: "restart", idempotencyKey: "restart-key" })).id).toBe(keyed.id);
    } finally {
      await client.close();
    }
  }, 30_000);
});
