// Cancelling a running task, through every front door: the task ends cancelled, its lease with
// it (the worker's late result is LeaseLost), and the worker is told — a TaskCancelled frame
// pushed on its connection when it enabled notices, else lease lost in its next heartbeat — so
// the SDK worker's ctx.signal fires at once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, LeaseLostError, Worker } from "../../src/index.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { runCli } from "../helpers/cli.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, complete, expectKind, sleep, spec, status, submit } from "../helpers/wire.ts";

let broker: TestBroker;
const conns: RawConn[] = [];
const cwd = mkdtempSync(join(tmpdir(), "tq-cancel-cli-"));

async function connect(): Promise<RawConn> {
  const conn = await RawConn.connect(broker.port);
  conns.push(conn);
  return conn;
}

function register(conn: RawConn, workerId: string) {
  return conn.call({ kind: "RegisterWorker", workerId, hostname: "h", pid: 1, queues: ["default"], concurrency: 1, version: "t", labels: [] });
}

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  for (const conn of conns) conn.close();
  await broker.stop();
  rmSync(cwd, { recursive: true, force: true });
});

describe("CancelTask on a running task", () => {
  test("ends it cancelled, pushes TaskCancelled to a worker that enabled notices, and refuses its late result", async () => {
    const worker = await connect();
    const producer = await connect();
    expectKind(await register(worker, "cw-1"), "Registered");
    expectKind(await worker.call({ kind: "EnableNotices", notices: 1 }), "Ack");
    const id = await submit(producer, spec("long", { queue: "cancel-run" }));
    const [task] = await claim(worker, { queues: ["cancel-run"] });
    const cancelled = expectKind(await producer.call({ kind: "CancelTask", id }), "TaskInfo").task;
    expect(cancelled).toMatchObject({ id, status: "cancelled", workerId: "cw-1", attempts: 0, leaseExpiresAtMs: null });
    const notice = expectKind(await worker.waitFor((r) => r.kind === "TaskCancelled", 2000), "TaskCancelled");
    expect(notice).toEqual({ kind: "TaskCancelled", requestId: 0, id, token: task!.token });
    expect(expectKind(await complete(worker, task!), "Error").code).toBe(10);
    const beat = expectKind(
      await worker.call({ kind: "Heartbeat", workerId: "cw-1", cpuPercent: 0, memoryMb: 0, inFlight: [{ id, token: task!.token }] }),
      "HeartbeatOk",
    );
    expect(beat.renewed).toEqual([null]);
    expect((await status(producer, id)).status).toBe("cancelled");
  });

  test("a worker that did not enable notices gets no unasked frame; its heartbeat says the lease is lost", async () => {
    const worker = await connect();
    const producer = await connect();
    expectKind(await register(worker, "cw-2"), "Registered");
    const id = await submit(producer, spec("long", { queue: "cancel-quiet" }));
    const [task] = await claim(worker, { queues: ["cancel-quiet"] });
    expectKind(await producer.call({ kind: "CancelTask", id }), "TaskInfo");
    const pong = await worker.call({ kind: "Ping" });
    // Not a broker timer: time for a wrongly pushed frame to cross the socket before its absence is checked.
    await sleep(100);
    expect(pong.kind).toBe("Pong");
    await expect(worker.waitFor((r) => r.kind === "TaskCancelled", 200)).rejects.toThrow("no matching response");
    const beat = expectKind(
      await worker.call({ kind: "Heartbeat", workerId: "cw-2", cpuPercent: 0, memoryMb: 0, inFlight: [{ id, token: task!.token }] }),
      "HeartbeatOk",
    );
    expect(beat.renewed).toEqual([null]);
  });

  test("an EnableNotices with unknown bits is InvalidField", async () => {
    const conn = await connect();
    const refused = expectKind(await conn.call({ kind: "EnableNotices", notices: 0x80 }), "Error");
    expect({ code: refused.code, field: refused.field }).toEqual({ code: 4, field: "notices" });
  });

  test("the CLI cancels a running task", async () => {
    const worker = await connect();
    const id = await submit(worker, spec("long", { queue: "cancel-cli" }));
    await claim(worker, { queues: ["cancel-cli"] });
    const result = await runCli(["cancel", id, "--url", `tq://127.0.0.1:${broker.port}`, "--json"], { cwd });
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ id, status: "cancelled" });
  });
});

describe("the SDK worker", () => {
  test("a cancel fires the running handler's ctx.signal at once (long before a heartbeat), and nothing is reported", async () => {
    const url = `tq://127.0.0.1:${broker.port}`;
    const client = new Client({ url, env: {} });
    // Heartbeats and renewals far apart: only the pushed notice can make the abort prompt.
    const worker = new Worker({ url, env: {}, handleSignals: false, queues: ["cancel-sdk"], heartbeatIntervalMs: 60_000 });
    const errors: unknown[] = [];
    worker.on("error", (err) => errors.push(err));
    const cancelledEvents: string[] = [];
    worker.on("cancelled", (task: { id: string }) => cancelledEvents.push(task.id));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    let abortedWith: unknown = null;
    worker.register("long", (_task, ctx) => {
      started();
      return new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve((abortedWith = ctx.signal.reason))));
    });
    try {
      const { id } = await client.submit("long", {}, { queue: "cancel-sdk", timeout: 600_000 });
      await worker.start();
      await running;
      const startedMs = Date.now();
      expect((await client.cancel(id)).status).toBe("cancelled");
      // Polls for the SDK's abort (the pushed notice crossing the socket); no broker timer is involved.
      for (let i = 0; i < 200 && abortedWith === null; i++) await sleep(10);
      expect(Date.now() - startedMs).toBeLessThan(2000);
      expect(abortedWith).toBeInstanceOf(LeaseLostError);
      expect((abortedWith as Error).message).toContain("cancelled");
      expect(cancelledEvents).toEqual([id]);
      // Not a broker timer: time for a wrongly sent report to reach the broker before the status is read.
      await sleep(100);
      expect((await client.status(id)).status).toBe("cancelled");
      expect(errors).toEqual([]);
    } finally {
      await worker.stop();
      await client.close();
    }
  });
});
