// Leases and workers over the socket: expiry re-delivers and the old token is refused; heartbeats
// renew; a silent worker or a closed connection loses its tasks; deregister hands back at once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { spawnBroker } from "../helpers/broker-process.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, complete, eventually, expectKind, sleep, spec, status, submit } from "../helpers/wire.ts";

let broker: TestBroker;
const conns: RawConn[] = [];

async function connect(): Promise<RawConn> {
  const conn = await RawConn.connect(broker.port);
  conns.push(conn);
  return conn;
}

function register(conn: RawConn, workerId: string, queues: string[]) {
  return conn.call({ kind: "RegisterWorker", workerId, hostname: "test", pid: 1, queues, concurrency: 1, version: "t", labels: [] });
}

beforeAll(async () => {
  broker = await startBroker({
    "worker.heartbeat_interval_secs": 0.2,
    "broker.disconnect_grace_secs": 0.2,
  });
});

afterAll(async () => {
  for (const conn of conns) conn.close();
  await broker.stop();
});

describe("leases", () => {
  test("an expired lease re-delivers the task and the first holder's result is refused", async () => {
    const first = await connect();
    const second = await connect();
    const id = await submit(first, spec("slow", { queue: "expire", leaseMs: 200 }));
    const [a] = await claim(first, { queues: ["expire"] });
    const [b] = await claim(second, { queues: ["expire"], waitMs: 3000 });
    expect(b?.id).toBe(id);
    expect(b!.token).not.toBe(a!.token);
    expect(expectKind(await complete(first, a!), "Error").code).toBe(10);
    expectKind(await complete(second, b!), "Ack");
    expect((await status(first, id)).status).toBe("completed");
  });

  test("renewing keeps a lease alive past its length", async () => {
    const conn = await connect();
    const id = await submit(conn, spec("long", { queue: "renew", leaseMs: 300 }));
    const [task] = await claim(conn, { queues: ["renew"] });
    for (let i = 0; i < 5; i++) {
      await sleep(150);
      const renewed = expectKind(await conn.call({ kind: "RenewLease", leases: [{ id, token: task!.token }] }), "Renewed");
      expect(renewed.expiresAtMs[0]).toBeGreaterThan(Date.now());
    }
    expect((await status(conn, id)).status).toBe("in_progress");
    expectKind(await complete(conn, task!), "Ack");
  });

  test("a heartbeat carrying in-flight leases renews them", async () => {
    const conn = await connect();
    expectKind(await register(conn, "hb-worker", ["hb"]), "Registered");
    const id = await submit(conn, spec("long", { queue: "hb", leaseMs: 300 }));
    const [task] = await claim(conn, { queues: ["hb"] });
    for (let i = 0; i < 5; i++) {
      await sleep(120);
      const reply = expectKind(
        await conn.call({ kind: "Heartbeat", workerId: "hb-worker", cpuPercent: 1, memoryMb: 10, inFlight: [{ id, token: task!.token }] }),
        "HeartbeatOk",
      );
      expect(reply.command).toBe("none");
      expect(reply.renewed[0]).toBeGreaterThan(Date.now());
    }
    expectKind(await complete(conn, task!), "Ack");
  });
});

describe("workers", () => {
  test("a worker that stops heartbeating is dead and its task goes back before the lease ends", async () => {
    const quiet = await connect();
    const other = await connect();
    expectKind(await register(quiet, "silent", ["dead"]), "Registered");
    const id = await submit(other, spec("t", { queue: "dead", leaseMs: 60_000 }));
    const [task] = await claim(quiet, { queues: ["dead"] });
    expect(task?.id).toBe(id);
    // Two missed 200 ms intervals, far sooner than the 60 s lease.
    const [again] = await claim(other, { queues: ["dead"], waitMs: 3000 });
    expect(again?.id).toBe(id);
  });

  test("a worker whose connection closes loses its tasks after the grace period", async () => {
    const leaving = await connect();
    const other = await connect();
    const id = await submit(other, spec("t", { queue: "gone", leaseMs: 60_000 }));
    expect((await claim(leaving, { queues: ["gone"] }))[0]?.id).toBe(id);
    leaving.close();
    const [again] = await claim(other, { queues: ["gone"], waitMs: 3000 });
    expect(again?.id).toBe(id);
  });

  test("deregistering hands unfinished tasks back at once without counting an attempt", async () => {
    const worker = await connect();
    const other = await connect();
    expectKind(await register(worker, "leaver", ["dereg"]), "Registered");
    const id = await submit(other, spec("t", { queue: "dereg", leaseMs: 60_000 }));
    await claim(worker, { queues: ["dereg"] });
    expectKind(await worker.call({ kind: "DeregisterWorker", workerId: "leaver" }), "Ack");
    const info = await status(other, id);
    expect(info.status).toBe("pending");
    expect(info.attempts).toBe(0);
  });

  test("registered workers are listed with what they reported", async () => {
    const conn = await connect();
    expectKind(await register(conn, "listed", ["a", "b"]), "Registered");
    await conn.call({ kind: "Heartbeat", workerId: "listed", cpuPercent: 42, memoryMb: 64, inFlight: [] });
    const workers = JSON.parse(expectKind(await conn.call({ kind: "ListWorkers" }), "Workers").json) as Record<string, unknown>[];
    const me = workers.find((w) => w.id === "listed");
    expect(me).toMatchObject({ queues: ["a", "b"], cpuPercent: 42, memoryMb: 64 });
  });

  async function command(workerId: string, what: "quiet" | "shutdown"): Promise<void> {
    const res = await fetch(`http://127.0.0.1:${broker.httpPort}/api/v1/workers/${workerId}/${what}`, { method: "POST" });
    expect(res.status).toBe(200);
  }

  test("a worker told to quiet gets no new tasks from its claims, parked or new; others do", async () => {
    const worker = await connect();
    const other = await connect();
    expectKind(await register(worker, "quieted", ["quiet-q"]), "Registered");
    // Shorter than two heartbeat intervals (400 ms here): the worker stays alive meanwhile.
    const parked = claim(worker, { queues: ["quiet-q"], waitMs: 300 });
    await sleep(50);
    await command("quieted", "quiet");
    const id = await submit(other, spec("t", { queue: "quiet-q" }));
    expect(await claim(worker, { queues: ["quiet-q"], waitMs: 0 })).toEqual([]);
    expect(await parked).toEqual([]);
    expect((await status(other, id)).status).toBe("pending");
    expect((await claim(other, { queues: ["quiet-q"] }))[0]?.id).toBe(id);
  });

  test("a worker told to shut down gets no new tasks: its blocking claim waits out its time empty", async () => {
    const worker = await connect();
    const other = await connect();
    expectKind(await register(worker, "stopping", ["stop-q"]), "Registered");
    await command("stopping", "shutdown");
    const id = await submit(other, spec("t", { queue: "stop-q" }));
    const startedMs = Date.now();
    expect(await claim(worker, { queues: ["stop-q"], waitMs: 300 })).toEqual([]);
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(250);
    expect((await status(other, id)).status).toBe("pending");
  });

  test("a heartbeat reply passes on an operator's quiet command", async () => {
    const conn = await connect();
    expectKind(await register(conn, "to-quiet", ["q"]), "Registered");
    broker.app.broker!.setWorkerCommand("to-quiet", "quiet");
    const reply = expectKind(await conn.call({ kind: "Heartbeat", workerId: "to-quiet", cpuPercent: 0, memoryMb: 0, inFlight: [] }), "HeartbeatOk");
    expect(reply.command).toBe("quiet");
  });

  test("a command set over REST reads the same through every door: heartbeat and REST by name, ListWorkers by its byte", async () => {
    const conn = await connect();
    expectKind(await register(conn, "to-stop", ["q"]), "Registered");
    await command("to-stop", "shutdown");
    const reply = expectKind(await conn.call({ kind: "Heartbeat", workerId: "to-stop", cpuPercent: 0, memoryMb: 0, inFlight: [] }), "HeartbeatOk");
    expect(reply.command).toBe("shutdown");
    const listed = JSON.parse(expectKind(await conn.call({ kind: "ListWorkers" }), "Workers").json) as Record<string, unknown>[];
    expect(listed.find((w) => w.id === "to-stop")).toMatchObject({ status: "shutting_down", command: 2 });
    const rest = (await (await fetch(`http://127.0.0.1:${broker.httpPort}/api/v1/workers`)).json()) as { workers: Record<string, unknown>[] };
    expect(rest.workers.find((w) => w.id === "to-stop")).toMatchObject({ status: "shutting_down", command: "shutdown" });
  });
});

describe("worker visibility and worker.max_inactivity_secs", () => {
  let vis: TestBroker;
  const visConns: RawConn[] = [];

  beforeAll(async () => {
    vis = await startBroker({ "worker.heartbeat_interval_secs": 0.2, "worker.max_inactivity_secs": 1.5 });
  });

  afterAll(async () => {
    for (const conn of visConns) conn.close();
    await vis.stop();
  });

  async function listed(conn: RawConn): Promise<Record<string, any>[]> {
    return JSON.parse(expectKind(await conn.call({ kind: "ListWorkers" }), "Workers").json) as Record<string, any>[];
  }

  test("a worker has a status and its address; dead, it stays listed until silent for max_inactivity_secs, then is gone", async () => {
    const worker = await RawConn.connect(vis.port);
    const admin = await RawConn.connect(vis.port);
    visConns.push(worker, admin);
    expectKind(await register(worker, "visible", ["vis"]), "Registered");
    expect((await listed(admin)).find((w) => w.id === "visible")).toMatchObject({ status: "alive", address: "127.0.0.1", deadAtMs: null });
    const rest = await fetch(`http://127.0.0.1:${vis.httpPort}/api/v1/workers/visible/quiet`, { method: "POST" });
    expect(((await rest.json()) as Record<string, unknown>).status).toBe("quiet");
    const lastSeenMs = Date.now();
    // Silent: dead after two heartbeat intervals (0.4 s), listed as dead, then gone at 1.5 s.
    await eventually(async () => (await listed(admin)).find((w) => w.id === "visible")?.status === "dead", 1400, 20);
    expect(Date.now() - lastSeenMs).toBeLessThan(1400);
    const dead = (await listed(admin)).find((w) => w.id === "visible")!;
    expect(dead.deadAtMs).toBeGreaterThan(0);
    const overRest = (await (await fetch(`http://127.0.0.1:${vis.httpPort}/api/v1/workers`)).json()) as { workers: Record<string, unknown>[] };
    expect(overRest.workers.find((w) => w.id === "visible")).toMatchObject({ status: "dead", address: "127.0.0.1" });
    await eventually(async () => (await listed(admin)).every((w) => w.id !== "visible"), 3000, 20);
    expect(Date.now() - lastSeenMs).toBeGreaterThanOrEqual(1400);
  });
});

describe("an expired lease", () => {
  test("is logged as a warning naming the task and the worker", async () => {
    const proc = await spawnBroker();
    try {
      const conn = await RawConn.connect(proc.port);
      expectKind(await register(conn, "slow-worker", ["expiry"]), "Registered");
      const id = await submit(conn, spec("slow", { queue: "expiry", leaseMs: 200 }));
      expect((await claim(conn, { queues: ["expiry"] }))[0]?.id).toBe(id);
      const warning = (): Record<string, unknown> | undefined =>
        proc
          .output()
          .split("\n")
          .filter((line) => line.startsWith("{"))
          .map((line) => JSON.parse(line) as Record<string, unknown>)
          .find((entry) => entry.task === id && String(entry.msg).startsWith("lease expired"));
      await eventually(() => warning() !== undefined, 5000);
      expect(warning()).toMatchObject({ level: "warn", task: id, worker: "slow-worker", lease_ms: 200, status: "pending" });
      conn.close();
    } finally {
      proc.proc.kill("SIGTERM");
      await proc.exited;
      rmSync(proc.dataDir, { recursive: true, force: true });
    }
  });
});
