// Leases and workers over the socket: expiry re-delivers and the old token is refused; heartbeats
// renew; a silent worker or a closed connection loses its tasks; deregister hands back at once.
// The broker runs on a FakeClock: every lease, heartbeat, grace and wait is checked to the
// millisecond of clock time, which moves only when a test advances it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, whenParked, type TestBroker } from "../helpers/broker.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, complete, eventually, expectKind, spec, status, submit } from "../helpers/wire.ts";

/** The reaper sleeps at least this long (worker-reaper.ts), so a death is found within it. */
const REAPER_FLOOR_MS = 10;
const HEARTBEAT_MS = 15_000;
const GRACE_MS = 5000;

const clock = new FakeClock();
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

/** Resolves the claim's answer; `answered()` says whether it came yet. */
function tracked<T>(p: Promise<T>): { result: Promise<T>; answered: () => boolean } {
  let done = false;
  const result = p.finally(() => (done = true));
  return { result, answered: () => done };
}

beforeAll(async () => {
  broker = await startBroker(
    {
      "worker.heartbeat_interval_secs": HEARTBEAT_MS / 1000,
      "broker.disconnect_grace_secs": GRACE_MS / 1000,
      // The tests advance the clock by minutes: earlier tests' connections must not go idle meanwhile.
      "broker.idle_timeout_secs": 3600,
    },
    undefined,
    { clock },
  );
});

afterAll(async () => {
  for (const conn of conns) conn.close();
  await broker.stop();
});

describe("leases", () => {
  test("an expired lease re-delivers the task and the first holder's result is refused", async () => {
    const first = await connect();
    const second = await connect();
    const id = await submit(first, spec("slow", { queue: "expire", leaseMs: 20_000 }));
    const [a] = await claim(first, { queues: ["expire"] });
    const waiting = claim(second, { queues: ["expire"], waitMs: 60_000 });
    await whenParked(broker, 1);
    clock.advance(19_999);
    expect((await status(first, id)).status).toBe("in_progress");
    clock.advance(1);
    const [b] = await waiting;
    expect(b?.id).toBe(id);
    expect(b!.token).not.toBe(a!.token);
    expect(expectKind(await complete(first, a!), "Error").code).toBe(10);
    expectKind(await complete(second, b!), "Ack");
    expect((await status(first, id)).status).toBe("completed");
  });

  test("renewing keeps a lease alive past its length; once renewals stop it expires one lease later", async () => {
    const conn = await connect();
    const id = await submit(conn, spec("long", { queue: "renew", leaseMs: 30_000 }));
    const [task] = await claim(conn, { queues: ["renew"] });
    for (let i = 0; i < 5; i++) {
      clock.advance(15_000);
      const renewed = expectKind(await conn.call({ kind: "RenewLease", leases: [{ id, token: task!.token }] }), "Renewed");
      expect(renewed.expiresAtMs[0]).toBe(clock.now() + 30_000);
    }
    clock.advance(29_999);
    expect((await status(conn, id)).status).toBe("in_progress");
    clock.advance(1);
    await eventually(async () => (await status(conn, id)).status === "pending");
  });

  test("a heartbeat carrying in-flight leases renews them", async () => {
    const conn = await connect();
    expectKind(await register(conn, "hb-worker", ["hb"]), "Registered");
    const id = await submit(conn, spec("long", { queue: "hb", leaseMs: 30_000 }));
    const [task] = await claim(conn, { queues: ["hb"] });
    for (let i = 0; i < 5; i++) {
      clock.advance(HEARTBEAT_MS);
      const reply = expectKind(
        await conn.call({ kind: "Heartbeat", workerId: "hb-worker", cpuPercent: 1, memoryMb: 10, inFlight: [{ id, token: task!.token }] }),
        "HeartbeatOk",
      );
      expect(reply.command).toBe("none");
      expect(reply.renewed[0]).toBe(clock.now() + 30_000);
    }
    expect((await status(conn, id)).status).toBe("in_progress");
    expectKind(await complete(conn, task!), "Ack");
  });
});

describe("workers", () => {
  test("ListWorkers counts what a worker runs from the leases, not from its last heartbeat", async () => {
    const worker = await connect();
    const other = await connect();
    expectKind(await register(worker, "counted", ["count-q"]), "Registered");
    expectKind(await worker.call({ kind: "Heartbeat", workerId: "counted", cpuPercent: 1, memoryMb: 10, inFlight: [] }), "HeartbeatOk");
    for (let i = 0; i < 3; i++) await submit(other, spec("t", { queue: "count-q", leaseMs: 600_000 }));
    const held = await claim(worker, { queues: ["count-q"], max: 2 });
    expect(held).toHaveLength(2);
    const listed = async () =>
      (JSON.parse(expectKind(await other.call({ kind: "ListWorkers" }), "Workers").json) as Record<string, unknown>[]).find((w) => w.id === "counted")!;
    expect(await listed()).toMatchObject({ inFlight: 0, running: 2 });
    await complete(worker, held[0]!);
    expect(await listed()).toMatchObject({ inFlight: 0, running: 1 });
  });

  test("a worker that stops heartbeating is dead at two intervals and its task goes back before the lease ends", async () => {
    const quiet = await connect();
    const other = await connect();
    expectKind(await register(quiet, "silent", ["dead"]), "Registered");
    const lastSeenMs = clock.now();
    const id = await submit(other, spec("t", { queue: "dead", leaseMs: 600_000 }));
    const [task] = await claim(quiet, { queues: ["dead"] });
    expect(task?.id).toBe(id);
    const again = tracked(claim(other, { queues: ["dead"], waitMs: 120_000 }));
    await whenParked(broker, 1);
    // Two missed intervals (30 s), far sooner than the 10 min lease.
    clock.advance(lastSeenMs + 2 * HEARTBEAT_MS - 1 - clock.now());
    expect((await status(other, id)).status).toBe("in_progress");
    expect(again.answered()).toBe(false);
    clock.advance(1 + REAPER_FLOOR_MS);
    expect((await again.result)[0]?.id).toBe(id);
  });

  test("a worker whose connection closes loses its tasks after the grace period, not before", async () => {
    const leaving = await connect();
    const other = await connect();
    const id = await submit(other, spec("t", { queue: "gone", leaseMs: 600_000 }));
    expect((await claim(leaving, { queues: ["gone"] }))[0]?.id).toBe(id);
    const disconnected = (): number => broker.app.broker.workers.list().filter((w) => w.disconnectedAtMs !== null).length;
    const before = disconnected();
    const again = tracked(claim(other, { queues: ["gone"], waitMs: 120_000 }));
    await whenParked(broker, 1);
    leaving.close();
    // The close is an OS event: wait until the broker has seen it, then let the grace run out.
    await eventually(() => disconnected() > before, 5000, 2);
    const closedAtMs = clock.now();
    clock.advance(GRACE_MS - 1);
    expect((await status(other, id)).status).toBe("in_progress");
    expect(again.answered()).toBe(false);
    clock.advance(1 + REAPER_FLOOR_MS);
    expect((await again.result)[0]?.id).toBe(id);
    expect(clock.now() - closedAtMs).toBeLessThanOrEqual(GRACE_MS + REAPER_FLOOR_MS);
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
    const parked = tracked(claim(worker, { queues: ["quiet-q"], waitMs: 20_000 }));
    await whenParked(broker, 1);
    await command("quieted", "quiet");
    const id = await submit(other, spec("t", { queue: "quiet-q" }));
    expect(await claim(worker, { queues: ["quiet-q"], waitMs: 0 })).toEqual([]);
    // The parked claim waits out its time empty, though a task is there (shorter than two
    // heartbeat intervals: the worker stays alive meanwhile).
    clock.advance(19_999);
    expectKind(await worker.call({ kind: "Ping" }), "Pong");
    expect(parked.answered()).toBe(false);
    clock.advance(1);
    expect(await parked.result).toEqual([]);
    expect((await status(other, id)).status).toBe("pending");
    expect((await claim(other, { queues: ["quiet-q"] }))[0]?.id).toBe(id);
  });

  test("a worker told to shut down gets no new tasks: its blocking claim waits out its time empty", async () => {
    const worker = await connect();
    const other = await connect();
    expectKind(await register(worker, "stopping", ["stop-q"]), "Registered");
    await command("stopping", "shutdown");
    const id = await submit(other, spec("t", { queue: "stop-q" }));
    const parked = tracked(claim(worker, { queues: ["stop-q"], waitMs: 20_000 }));
    await whenParked(broker, 1);
    clock.advance(19_999);
    // A reply written before the Pong would arrive before it: none came, so the claim still waits.
    expectKind(await worker.call({ kind: "Ping" }), "Pong");
    expect(parked.answered()).toBe(false);
    clock.advance(1);
    expect(await parked.result).toEqual([]);
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
  const visClock = new FakeClock();
  let vis: TestBroker;
  const visConns: RawConn[] = [];

  beforeAll(async () => {
    vis = await startBroker({ "worker.heartbeat_interval_secs": 15, "worker.max_inactivity_secs": 90, "broker.idle_timeout_secs": 3600 }, undefined, {
      clock: visClock,
    });
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
    const me = (await listed(admin)).find((w) => w.id === "visible");
    expect(me).toMatchObject({ status: "alive", address: "127.0.0.1", deadAtMs: null });
    const lastSeenMs = me!.lastSeenAtMs as number;
    const rest = await fetch(`http://127.0.0.1:${vis.httpPort}/api/v1/workers/visible/quiet`, { method: "POST" });
    expect(((await rest.json()) as Record<string, unknown>).status).toBe("quiet");
    const at = (ms: number): void => visClock.advance(lastSeenMs + ms - visClock.now());
    // Silent: dead after two heartbeat intervals (30 s), listed as dead, then gone at 90 s.
    at(29_999);
    expect((await listed(admin)).find((w) => w.id === "visible")?.status).toBe("quiet");
    // Due: the reaper's check and the reclaim it starts finish on real I/O; wait for their effect.
    at(30_000 + REAPER_FLOOR_MS);
    await eventually(async () => (await listed(admin)).find((w) => w.id === "visible")?.status === "dead", 5000, 2);
    const dead = (await listed(admin)).find((w) => w.id === "visible")!;
    expect(dead.deadAtMs).toBeGreaterThanOrEqual(lastSeenMs + 30_000);
    const overRest = (await (await fetch(`http://127.0.0.1:${vis.httpPort}/api/v1/workers`)).json()) as { workers: Record<string, unknown>[] };
    expect(overRest.workers.find((w) => w.id === "visible")).toMatchObject({ status: "dead", address: "127.0.0.1" });
    at(89_999);
    expect((await listed(admin)).find((w) => w.id === "visible")?.status).toBe("dead");
    at(90_000 + REAPER_FLOOR_MS);
    await eventually(async () => (await listed(admin)).every((w) => w.id !== "visible"), 5000, 2);
    // Forgotten, but an operator paged later still finds who died, where and when (for an hour).
    const later = (await (await fetch(`http://127.0.0.1:${vis.httpPort}/api/v1/workers`)).json()) as { workers: Record<string, unknown>[]; recently_dead: Record<string, unknown>[] };
    expect(later.workers.find((w) => w.id === "visible")).toBeUndefined();
    expect(later.recently_dead.find((w) => w.id === "visible")).toMatchObject({ status: "dead", address: "127.0.0.1", dead_at_ms: dead.deadAtMs, queues: ["vis"] });
    const deadFor = (ms: number): void => visClock.advance((dead.deadAtMs as number) + ms - visClock.now());
    deadFor(3_600_000);
    const hourOn = (await (await fetch(`http://127.0.0.1:${vis.httpPort}/api/v1/workers`)).json()) as { recently_dead: Record<string, unknown>[] };
    expect(hourOn.recently_dead.find((w) => w.id === "visible")).toMatchObject({ status: "dead" });
    deadFor(3_600_001);
    const gone = (await (await fetch(`http://127.0.0.1:${vis.httpPort}/api/v1/workers`)).json()) as { recently_dead: Record<string, unknown>[] };
    expect(gone.recently_dead.find((w) => w.id === "visible")).toBeUndefined();
  });
});

describe("an expired lease", () => {
  test("is logged as a warning naming the task and the worker", async () => {
    const logClock = new FakeClock();
    const lines: string[] = [];
    const logged = await startBroker({ "monitoring.log_level": "warn" }, undefined, { clock: logClock, logSink: (line) => lines.push(line) });
    try {
      const conn = await RawConn.connect(logged.port);
      expectKind(await register(conn, "slow-worker", ["expiry"]), "Registered");
      const id = await submit(conn, spec("slow", { queue: "expiry", leaseMs: 20_000 }));
      expect((await claim(conn, { queues: ["expiry"] }))[0]?.id).toBe(id);
      const warning = (): Record<string, unknown> | undefined =>
        lines
          .map((line) => JSON.parse(line) as Record<string, unknown>)
          .find((entry) => entry.task === id && String(entry.msg).startsWith("lease expired"));
      logClock.advance(19_999);
      expect((await status(conn, id)).status).toBe("in_progress");
      expect(warning()).toBeUndefined();
      logClock.advance(1);
      await eventually(() => warning() !== undefined, 5000, 2);
      expect(warning()).toMatchObject({ level: "warn", task: id, worker: "slow-worker", lease_ms: 20_000, status: "pending" });
      conn.close();
    } finally {
      await logged.stop();
    }
  });
});
