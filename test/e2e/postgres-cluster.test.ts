// Several brokers on one PostgreSQL database, each a real broker on its own sockets (startApp in
// this process; one spawned as a process to be killed with -9): any broker serves any client,
// a task goes to one worker at a time, wake-ups and cancels cross brokers, and leases and worker
// liveness outlive the broker that issued them.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, whenParked, type TestBroker } from "../helpers/broker.ts";
import { spawnBroker } from "../helpers/broker-process.ts";
import { dropSchema, freshSchema, postgresBrokerConfig, testPostgres } from "../helpers/postgres.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, complete, eventually, expectKind, sleep, spec, stats, status, submit } from "../helpers/wire.ts";

const schema = freshSchema("cluster");
const brokers: TestBroker[] = [];
const conns: RawConn[] = [];
let a: TestBroker;
let b: TestBroker;
let c: TestBroker;

async function connect(broker: { port: number }): Promise<RawConn> {
  const conn = await RawConn.connect(broker.port);
  conns.push(conn);
  return conn;
}

async function pgBroker(nodeId: string, inSchema = schema, overrides: Record<string, unknown> = {}): Promise<TestBroker> {
  const broker = await startBroker({ ...(await postgresBrokerConfig(inSchema, nodeId)), ...overrides });
  brokers.push(broker);
  return broker;
}

/** Stops the brokers on `inSchema`, then drops it (a broker left running would tick on dropped tables). */
async function dropWithBrokers(inSchema: string, own: TestBroker[]): Promise<void> {
  for (const broker of own) await broker.stop();
  await dropSchema(inSchema);
}

function register(conn: RawConn, workerId: string, queues: string[]) {
  return conn.call({ kind: "RegisterWorker", workerId, hostname: "h", pid: 1, queues, concurrency: 1, version: "t", labels: [] });
}

beforeAll(async () => {
  await testPostgres();
  a = await pgBroker("a");
  b = await pgBroker("b");
  c = await pgBroker("c");
}, 120_000);

afterAll(async () => {
  for (const conn of conns) conn.close();
  for (const broker of brokers) await broker.stop();
  await dropSchema(schema);
});

describe("several brokers on one database", () => {
  test("any broker serves any client: submitted on A, seen and completed through B, its result read through C", async () => {
    const [onA, onB, onC] = [await connect(a), await connect(b), await connect(c)];
    const id = await submit(onA, spec("any", { queue: "any" }));
    expect((await status(onB, id)).status).toBe("pending");
    const [task] = await claim(onB, { queues: ["any"], waitMs: 2000 });
    expect(task!.id).toBe(id);
    expect((await status(onC, id)).status).toBe("in_progress");
    expectKind(await complete(onB, task!, "from-b"), "Ack");
    const done = await status(onC, id);
    expect(done.status).toBe("completed");
    expect(new TextDecoder().decode(done.result!)).toBe("from-b");
  });

  test("a blocking claim parked on B wakes within milliseconds of a submit on A (NOTIFY, not the 1.5 s poll)", async () => {
    const [onA, onB] = [await connect(a), await connect(b)];
    const latencies: number[] = [];
    for (let round = 0; round < 5; round++) {
      const queue = `wake-${round}`;
      const parked = onB.call({ kind: "ClaimTask", queues: [queue], max: 1, waitMs: 10_000 }, 15_000);
      await whenParked(b, 1);
      const sent = performance.now();
      const id = await submit(onA, spec("wake", { queue }));
      const claimed = expectKind(await parked, "Claimed").tasks;
      latencies.push(performance.now() - sent);
      expect(claimed.map((t) => t.id)).toEqual([id]);
      expectKind(await complete(onB, claimed[0]!), "Ack");
    }
    latencies.sort((x, y) => x - y);
    // The safety-net poll alone would wake it after 750 ms on average.
    expect(latencies[2]!).toBeLessThan(300);
  });

  test("a subscription on B is pushed a task submitted on A, and a cancel through C gives its credit back", async () => {
    const [onA, onB, onC] = [await connect(a), await connect(b), await connect(c)];
    expectKind(await register(onB, "sub-cluster", ["sub-cluster"]), "Registered");
    expectKind(await onB.call({ kind: "EnableNotices", notices: 1 }), "Ack");
    expectKind(await onB.call({ kind: "Subscribe", subscriptionId: 1, queues: ["sub-cluster"], credits: 1 }), "Ack");
    const first = await submit(onA, spec("sub", { queue: "sub-cluster" }));
    const second = await submit(onA, spec("sub", { queue: "sub-cluster" }));
    const delivered = expectKind(await onB.waitFor((r) => r.kind === "Delivery", 5000), "Delivery").tasks;
    expect(delivered.map((t) => t.id)).toEqual([first]);
    // Its one credit is out: the second waits, until the first's lease ends through another broker.
    expect((await status(onC, second)).status).toBe("pending");
    expectKind(await onC.call({ kind: "CancelTask", id: first }), "TaskInfo");
    const next = expectKind(await onB.waitFor((r) => r.kind === "Delivery", 5000), "Delivery").tasks;
    expect(next.map((t) => t.id)).toEqual([second]);
  });

  test("a result wait on B wakes when A completes the task", async () => {
    const [onA, onB] = [await connect(a), await connect(b)];
    const id = await submit(onA, spec("wait", { queue: "result-wait" }));
    const waiting = onB.call({ kind: "WaitResult", id, waitMs: 20_000 }, 25_000);
    await whenParked(b, 0, 1);
    const [task] = await claim(onA, { queues: ["result-wait"] });
    const sent = performance.now();
    expectKind(await complete(onA, task!, "ok"), "Ack");
    const info = expectKind(await waiting, "TaskInfo").task;
    expect(info.status).toBe("completed");
    expect(performance.now() - sent).toBeLessThan(2000);
  });

  test("a task is never handed to two workers at once: six workers on three brokers drain 300 tasks, each claimed once", async () => {
    const producer = await connect(a);
    const ids = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const out = expectKind(await producer.call({ kind: "SubmitBatch", tasks: Array.from({ length: 10 }, () => spec("once", { queue: "once" })) }), "SubmittedBatch");
      for (const o of out.outcomes) ids.add(o.id);
    }
    const claimedBy = new Map<string, number>();
    const workers = await Promise.all([a, a, b, b, c, c].map((broker) => connect(broker)));
    await Promise.all(
      workers.map(async (w, n) => {
        // Bounded: 300 tasks, each round takes at least one or finds the queue empty.
        for (let round = 0; round < 400; round++) {
          const tasks = await claim(w, { queues: ["once"], max: 5, waitMs: 100 });
          if (tasks.length === 0 && [...claimedBy.values()].length >= ids.size) return;
          for (const t of tasks) {
            claimedBy.set(t.id, (claimedBy.get(t.id) ?? 0) + 1);
            expectKind(await complete(w, t, `w${n}`), "Ack");
          }
        }
      }),
    );
    expect(claimedBy.size).toBe(ids.size);
    expect([...claimedBy.values()].every((n) => n === 1)).toBe(true);
  });

  test("a running task cancelled through A reaches its worker connected to B", async () => {
    const worker = await connect(b);
    const operator = await connect(a);
    expectKind(await register(worker, "cancel-w", ["cancel-x"]), "Registered");
    expectKind(await worker.call({ kind: "EnableNotices", notices: 1 }), "Ack");
    const id = await submit(operator, spec("long", { queue: "cancel-x" }));
    const [task] = await claim(worker, { queues: ["cancel-x"], waitMs: 2000 });
    expect(expectKind(await operator.call({ kind: "CancelTask", id }), "TaskInfo").task.status).toBe("cancelled");
    const notice = expectKind(await worker.waitFor((r) => r.kind === "TaskCancelled", 3000), "TaskCancelled");
    expect(notice).toEqual({ kind: "TaskCancelled", requestId: 0, id, token: task!.token });
    expect(expectKind(await complete(worker, task!), "Error").code).toBe(10);
  });

  test("stats, REST and /metrics of any broker show the cluster's tasks, and its own node id and connections", async () => {
    const onA = await connect(a);
    for (let i = 0; i < 3; i++) await submit(onA, spec("counted", { queue: "stats-q" }));
    const onB = await connect(b);
    const fromB = await stats(onB);
    expect(fromB.tasks.queues.find((q: { queue: string }) => q.queue === "stats-q").pending).toEqual({ high: 0, normal: 3, low: 0 });
    expect(fromB.nodeId).toBe("b");
    expect(fromB.backend).toBe("postgres");
    expect(fromB.connections).toBeGreaterThanOrEqual(1);
    const rest = (await (await fetch(`http://127.0.0.1:${c.httpPort}/api/v1/stats`)).json()) as Record<string, unknown>;
    expect(rest.node_id).toBe("c");
    const metrics = await (await fetch(`http://127.0.0.1:${c.metricsPort}/metrics`)).text();
    expect(metrics).toContain('tq_node_info{node_id="c",backend="postgres"} 1');
    expect(metrics).toMatch(/tq_queue_pending_tasks\{queue="stats-q"(,[^}]*)?\} 3/);
  });

  test("a queue paused through A is paused on B too, and resumed the same way", async () => {
    const [onA, onB] = [await connect(a), await connect(b)];
    const paused = await fetch(`http://127.0.0.1:${a.httpPort}/api/v1/queues/held/pause`, { method: "POST" });
    expect(paused.status).toBe(200);
    await eventually(async () => ((await stats(onB)).pausedQueues as string[]).includes("held"), 3000);
    const id = await submit(onA, spec("held", { queue: "held" }));
    expect(await claim(onB, { queues: ["held"], waitMs: 300 })).toEqual([]);
    const parked = onB.call({ kind: "ClaimTask", queues: ["held"], max: 1, waitMs: 10_000 }, 15_000);
    const resumed = await fetch(`http://127.0.0.1:${a.httpPort}/api/v1/queues/held/resume`, { method: "POST" });
    expect(resumed.status).toBe(200);
    expect(expectKind(await parked, "Claimed").tasks.map((t) => t.id)).toEqual([id]);
  });

  test("backpressure counts pending tasks cluster-wide", async () => {
    const small = freshSchema("pressure");
    const own: TestBroker[] = [];
    try {
      const d = await pgBroker("d", small, { "broker.queue_depth_threshold": 5 });
      const e = await pgBroker("e", small, { "broker.queue_depth_threshold": 5 });
      own.push(d, e);
      const onD = await connect(d);
      for (let i = 0; i < 4; i++) await submit(onD, spec("fill", { queue: "full" }));
      // e's count is read from the database (at most 250 ms old, then refreshed).
      await sleep(300);
      const onE = await connect(e);
      expect(expectKind(await onE.call({ kind: "SubmitTask", task: spec("one", { queue: "full" }) }), "Submitted").status).toBe("pending");
      const refused = expectKind(await onE.call({ kind: "SubmitTask", task: spec("two", { queue: "other" }) }), "Error");
      expect(refused.code).toBe(11);
      expect(refused.message).toContain("5 pending tasks");
    } finally {
      await dropWithBrokers(small, own);
    }
  });
});

describe("a broker's death", () => {
  test("its leases outlive it (killed with -9): held until they expire, then another broker takes the task back", async () => {
    const own = freshSchema("death");
    const mine: TestBroker[] = [];
    try {
      const env = Object.fromEntries(Object.entries(await postgresBrokerConfig(own, "doomed")).map(([k, v]) => [`TQ_${k.replaceAll(".", "_").toUpperCase()}`, String(v)]));
      const doomed = await spawnBroker({ env });
      const survivor = await pgBroker("survivor", own);
      mine.push(survivor);
      const onDoomed = await RawConn.connect(doomed.port);
      conns.push(onDoomed);
      const id = await submit(onDoomed, spec("leased", { queue: "death", leaseMs: 1500 }));
      const [task] = await claim(onDoomed, { queues: ["death"], waitMs: 2000 });
      expect(task!.id).toBe(id);
      doomed.proc.kill("SIGKILL");
      await doomed.exited;
      const onSurvivor = await connect(survivor);
      // Not handed out again while the lease holds.
      expect((await status(onSurvivor, id)).status).toBe("in_progress");
      expect(await claim(onSurvivor, { queues: ["death"] })).toEqual([]);
      // Then the survivor's scheduler expires it: pending again, the expiry counted as an attempt.
      const [again] = await claim(onSurvivor, { queues: ["death"], waitMs: 5000 });
      expect(again!.id).toBe(id);
      expect(again!.attempts).toBe(1);
      expect(again!.token).not.toBe(task!.token);
      expectKind(await complete(onSurvivor, again!), "Ack");
    } finally {
      await dropWithBrokers(own, mine);
    }
  }, 30_000);

  test("a worker that moved to another broker is not declared dead by the one it left; its lease stays good", async () => {
    const own = freshSchema("moved");
    const mine: TestBroker[] = [];
    try {
      const quick = { "broker.disconnect_grace_secs": 0.3, "worker.heartbeat_interval_secs": 1 };
      const left = await pgBroker("left", own, quick);
      const joined = await pgBroker("joined", own, quick);
      mine.push(left, joined);
      const first = await RawConn.connect(left.port);
      expectKind(await register(first, "mover", ["moved"]), "Registered");
      const id = await submit(first, spec("carried", { queue: "moved", leaseMs: 60_000 }));
      const [task] = await claim(first, { queues: ["moved"] });
      first.close();
      const second = await connect(joined);
      expectKind(await register(second, "mover", ["moved"]), "Registered");
      // Past the grace and a few reaper passes of the broker it left, heartbeating through the new one.
      for (let i = 0; i < 4; i++) {
        const beat = expectKind(
          await second.call({ kind: "Heartbeat", workerId: "mover", cpuPercent: 0, memoryMb: 0, inFlight: [{ id, token: task!.token }] }),
          "HeartbeatOk",
        );
        expect(beat.renewed[0]).not.toBeNull();
        await sleep(400);
      }
      await eventually(async () => ((await left.app.broker.stats()).background.workers?.runs ?? 0) > 0);
      expect((await status(second, id)).status).toBe("in_progress");
      expectKind(await complete(second, task!), "Ack");
      expect((await status(second, id)).attempts).toBe(0);
    } finally {
      await dropWithBrokers(own, mine);
    }
  }, 30_000);
});
