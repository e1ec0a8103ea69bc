// An operator's quiet/stop reaches a worker through any broker of a cluster (one PostgreSQL
// database): the broker the request lands on, if the worker is not connected to it, passes the
// command (a NOTIFY) to the broker the workers table says serves it, and answers 202 naming that
// broker; a worker no broker has seen is NotFound, as on one broker. Real brokers on real sockets:
// an SDK Worker and a gRPC worker stream on B (pushed the command at once), the REST API and the
// CLI on A.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, Worker } from "../../src/index.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { runCli } from "../helpers/cli.ts";
import { GrpcTestClient } from "../helpers/grpc-client.ts";
import { dropSchema, freshSchema, postgresBrokerConfig, testPostgres } from "../helpers/postgres.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { eventually, sleep } from "../helpers/wire.ts";

const schema = freshSchema("workercmd");
let a: TestBroker;
let b: TestBroker;
let client: Client;
const conns: RawConn[] = [];
const cwd = mkdtempSync(join(tmpdir(), "tq-workercmd-"));

beforeAll(async () => {
  await testPostgres();
  a = await startBroker(await postgresBrokerConfig(schema, "a"));
  b = await startBroker(await postgresBrokerConfig(schema, "b"));
  client = new Client({ url: `tq://127.0.0.1:${a.port}`, env: {} });
}, 120_000);

afterAll(async () => {
  await client?.close();
  for (const conn of conns) conn.close();
  await a?.stop();
  await b?.stop();
  await dropSchema(schema);
});

/** Waits until the workers table says `node` served the worker last (a broker writes it within milliseconds of a register). */
async function recordedOn(workerId: string, node: string): Promise<void> {
  const { SQL } = await import("bun");
  const sql = new SQL((await testPostgres()).url, { max: 1 });
  try {
    await eventually(async () => {
      const rows = (await sql.unsafe(`SELECT node_id FROM "${schema}".workers WHERE worker_id = $1`, [workerId])) as { node_id: string }[];
      return rows[0]?.node_id === node;
    });
  } finally {
    await sql.close();
  }
}

async function post(broker: TestBroker, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${broker.httpPort}${path}`, { method: "POST" });
  return { status: res.status, body: await res.json() };
}

function workerOn(broker: TestBroker, workerId: string, queue: string): Worker {
  const worker = new Worker({ url: `tq://127.0.0.1:${broker.port}`, env: {}, handleSignals: false, workerId, queues: [queue], concurrency: 1, heartbeatIntervalMs: 50 });
  worker.register("job", (t) => t.payload);
  return worker;
}

describe("an operator's worker command through a broker the worker is not connected to", () => {
  test("quiet through A: B applies it at once (no new task reaches the worker); stop through A: the worker exits its run", async () => {
    const worker = workerOn(b, "wc-sdk", "wc");
    const stopped = new Promise<void>((resolve) => worker.once("stopped", resolve));
    await worker.start();
    try {
      const before = await client.submit("job", "before", { queue: "wc" });
      expect(await client.result(before.id, { wait: 10_000 })).toBe("before");
      expect(a.app.broker.workers.get("wc-sdk")).toBeUndefined();

      const quiet = await post(a, "/api/v1/workers/wc-sdk/quiet");
      expect(quiet).toEqual({ status: 202, body: { id: "wc-sdk", command: "quiet", node_id: "b", forwarded: true } });
      // B applies it when the notification arrives (milliseconds): its own listing says so.
      await eventually(() => b.app.broker.workers.get("wc-sdk")?.command === "quiet");
      const listed: any = await (await fetch(`http://127.0.0.1:${b.httpPort}/api/v1/workers`)).json();
      expect(listed.workers.find((w: any) => w.id === "wc-sdk")).toMatchObject({ status: "quiet", command: "quiet" });

      const after = await client.submit("job", "after", { queue: "wc" });
      // Several heartbeats go by (the SDK's real-time timer): the worker has heard, and still nothing is delivered.
      await sleep(300);
      expect((await client.status(after.id)).status).toBe("pending");

      const stop = await post(a, "/api/v1/workers/wc-sdk/shutdown");
      expect(stop).toEqual({ status: 202, body: { id: "wc-sdk", command: "shutdown", node_id: "b", forwarded: true } });
      await stopped;
      expect((await client.status(after.id)).status).toBe("pending");
    } finally {
      await worker.stop();
    }
  });

  test("a gRPC worker stream on B is told through A at once, as by B itself: the command is pushed, no heartbeat needed", async () => {
    const grpc = new GrpcTestClient(b.grpcPort);
    const stream = grpc.work();
    try {
      stream.send({ start: { worker_id: "wc-grpc", hostname: "h", pid: 1, queues: ["wc-grpc"], concurrency: 1, version: "test" } });
      await stream.next("started");
      // B writes the worker's record within milliseconds of its start; until then A knows of no such worker.
      await recordedOn("wc-grpc", "b");
      expect(await post(a, "/api/v1/workers/wc-grpc/quiet")).toEqual({ status: 202, body: { id: "wc-grpc", command: "quiet", node_id: "b", forwarded: true } });
      expect((await stream.next("command")).command).toEqual({ command: "WORKER_COMMAND_QUIET" });
      expect((await post(a, "/api/v1/workers/wc-grpc/shutdown")).status).toBe(202);
      expect((await stream.next("command")).command).toEqual({ command: "WORKER_COMMAND_SHUTDOWN" });
    } finally {
      stream.call.end();
      grpc.close();
    }
  });

  test("tq-broker workers quiet through A says which broker serves the worker", async () => {
    const worker = workerOn(b, "wc-cli", "wc-cli");
    await worker.start();
    try {
      const done = await client.submit("job", 1, { queue: "wc-cli" });
      expect(await client.result(done.id, { wait: 10_000 })).toBe(1);
      const out = await runCli(["workers", "quiet", "wc-cli", "--api-url", `http://127.0.0.1:${a.httpPort}`], { cwd });
      expect(out.stderr + out.stdout).toContain("worker wc-cli: told to take no new tasks (through broker b, which serves it)");
      expect(out.exitCode).toBe(0);
      await eventually(() => b.app.broker.workers.get("wc-cli")?.command === "quiet");
    } finally {
      await worker.stop();
    }
  });

  test("a worker no broker has seen is NotFound (404) through A, as on one broker", async () => {
    const reply = await post(a, "/api/v1/workers/wc-ghost/quiet");
    expect(reply.status).toBe(404);
    expect(reply.body.error).toMatchObject({ name: "NotFound", field: "worker_id" });
  });

  test("a worker that left A (its connection closed, still listed there) and reconnected to B: through A the command goes to B", async () => {
    const onA = await RawConn.connect(a.port);
    await onA.call({ kind: "RegisterWorker", workerId: "wc-moved", hostname: "h", pid: 1, queues: ["wc-moved"], concurrency: 1, version: "t", labels: [] });
    onA.close();
    await eventually(() => a.app.broker.workers.get("wc-moved")?.disconnectedAtMs != null);
    const onB = await RawConn.connect(b.port);
    conns.push(onB);
    await onB.call({ kind: "RegisterWorker", workerId: "wc-moved", hostname: "h", pid: 1, queues: ["wc-moved"], concurrency: 1, version: "t", labels: [] });
    await recordedOn("wc-moved", "b");
    // A still lists it (until broker.disconnect_grace_secs, 5 s, pass), disconnected.
    expect(a.app.broker.workers.get("wc-moved")?.disconnectedAtMs).not.toBeNull();
    expect(await post(a, "/api/v1/workers/wc-moved/quiet")).toEqual({ status: 202, body: { id: "wc-moved", command: "quiet", node_id: "b", forwarded: true } });
    await eventually(() => b.app.broker.workers.get("wc-moved")?.command === "quiet");
  });

  test("a worker connected to A itself: 200 with the worker, as before", async () => {
    const conn = await RawConn.connect(a.port);
    conns.push(conn);
    await conn.call({ kind: "RegisterWorker", workerId: "wc-local", hostname: "h", pid: 1, queues: ["wc-local"], concurrency: 1, version: "t", labels: [] });
    const reply = await post(a, "/api/v1/workers/wc-local/quiet");
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ id: "wc-local", command: "quiet", status: "quiet" });
    expect(reply.body.forwarded).toBeUndefined();
  });
});
