// PROTOCOL.md's time-based promises against a live broker with short intervals: dead workers and
// the disconnect grace (each an attempt), response order under pipelining, task-data limits on
// results and errors, HelloOk reflecting the config, and ShuttingDown on a stop.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import type { Json } from "./docs-codec.ts";
import { DocsClient, spec } from "./docs-client.ts";

type Task = Record<string, Json>;

describe("liveness (heartbeat 1 s, grace 1 s, batch claim 3)", () => {
  let broker: TestBroker;
  let p: DocsClient;
  beforeAll(async () => {
    broker = await startBroker({ "worker.heartbeat_interval_secs": 1, "worker.max_inactivity_secs": 4, "broker.disconnect_grace_secs": 1, "broker.max_batch_claim": 3, "broker.worker_lease_timeout_secs": 45 });
    p = await DocsClient.open(broker.port);
  });
  afterAll(async () => {
    p.close();
    await broker.stop();
  });
  const query = async (id: string): Promise<Task> => (await p.ok({ kind: "QueryStatus", id }, "TaskInfo")).task as Task;
  const submit = async (queue: string): Promise<string> => String((await p.ok({ kind: "SubmitTask", task: spec("t", { queue }) }, "Submitted")).id);

  test("HelloOk and Registered state the configured values", async () => {
    const h = await p.ok({ kind: "Hello", version: 1, apiKey: "", clientName: "c" }, "HelloOk");
    expect(h).toMatchObject({ maxBatchClaim: 3, heartbeatIntervalMs: 1000, defaultLeaseMs: 45000 });
    const r = await p.ok({ kind: "RegisterWorker", workerId: "cfg", hostname: "h", pid: 1, queues: [], concurrency: 1, version: "1", labels: [] }, "Registered");
    expect(r.heartbeatIntervalMs).toBe(1000);
  });

  test("a worker missing two heartbeat intervals is dead: its task goes back with an attempt, a later heartbeat renews it as 0", async () => {
    const w = await DocsClient.open(broker.port);
    await w.ok({ kind: "RegisterWorker", workerId: "silent", hostname: "h", pid: 1, queues: ["live"], concurrency: 1, version: "1", labels: [] }, "Registered");
    const id = await submit("live");
    const [t] = (await w.ok({ kind: "ClaimTask", queues: ["live"], max: 1, waitMs: 0 }, "Claimed")).tasks as Task[];
    let info = await query(id);
    for (let i = 0; i < 100 && info.status === "in_progress"; i++) { await Bun.sleep(100); info = await query(id); }
    expect(info.attempts).toBe(1);
    expect(["pending", "failed"]).toContain(String(info.status));
    const list = JSON.parse(String((await p.ok({ kind: "ListWorkers" }, "Workers")).json)) as Record<string, unknown>[];
    const dead = list.find((x) => x.id === "silent")!;
    expect(dead.status).toBe("dead");
    expect(dead.deadAtMs).not.toBeNull();
    const hb = await w.ok({ kind: "Heartbeat", workerId: "silent", cpuPercent: 0, memoryMb: 0, inFlight: [{ id, token: t!.token! }] }, "HeartbeatOk");
    expect(hb.renewed).toEqual([null]);
    expect(await w.call({ kind: "TaskResult", id, token: t!.token!, outcome: "completed", resultIsJson: false, result: { utf8: "" }, error: "" })).toMatchObject({ kind: "Error", code: 10 });
    w.close();
  });

  test("a dead worker is listed until silent for worker.max_inactivity_secs, then forgotten; a claimer that never registered lives as long as its connection", async () => {
    const w = await DocsClient.open(broker.port);
    await w.ok({ kind: "RegisterWorker", workerId: "forget-me", hostname: "h", pid: 1, queues: [], concurrency: 1, version: "1", labels: [] }, "Registered");
    const claimer = await DocsClient.open(broker.port);
    const id = await submit("claimer-only");
    await claimer.ok({ kind: "ClaimTask", queues: ["claimer-only"], max: 1, waitMs: 0 }, "Claimed");
    const listed = async (): Promise<Record<string, unknown> | undefined> =>
      (JSON.parse(String((await p.ok({ kind: "ListWorkers" }, "Workers")).json)) as Record<string, unknown>[]).find((x) => x.id === "forget-me");
    let seenDead = false;
    const t0 = Date.now();
    for (let i = 0; i < 100; i++) {
      const x = await listed();
      if (x?.status === "dead") seenDead = true;
      if (x === undefined) break;
      await Bun.sleep(100);
    }
    expect(seenDead).toBe(true);
    expect(await listed()).toBeUndefined();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
    // Silent all along, but its connection is open: its task is still leased.
    expect((await query(id)).status).toBe("in_progress");
    w.close();
    claimer.close();
  }, 20_000);

  test("a worker that deregisters is forgotten at once", async () => {
    const w = await DocsClient.open(broker.port);
    await w.ok({ kind: "RegisterWorker", workerId: "leaver", hostname: "h", pid: 1, queues: [], concurrency: 1, version: "1", labels: [] }, "Registered");
    await w.ok({ kind: "DeregisterWorker", workerId: "leaver" }, "Ack");
    const list = JSON.parse(String((await p.ok({ kind: "ListWorkers" }, "Workers")).json)) as Record<string, unknown>[];
    expect(list.find((x) => x.id === "leaver")).toBeUndefined();
    w.close();
  });

  test("a closed worker connection: tasks go back after disconnect_grace_secs, as an attempt", async () => {
    const w = await DocsClient.open(broker.port);
    const id = await submit("grace");
    await w.ok({ kind: "ClaimTask", queues: ["grace"], max: 1, waitMs: 0 }, "Claimed");
    w.close();
    await Bun.sleep(300);
    expect((await query(id)).status).toBe("in_progress"); // still within the grace
    let info = await query(id);
    for (let i = 0; i < 50 && info.status === "in_progress"; i++) { await Bun.sleep(100); info = await query(id); }
    expect(info.attempts).toBe(1);
    expect(info.status).not.toBe("in_progress");
  });

  test("responses come in request order, except ClaimTask and WaitResult", async () => {
    const c = await DocsClient.open(broker.port);
    const claimId = c.post({ kind: "ClaimTask", queues: ["order-empty"], max: 1, waitMs: 500 });
    const ids: number[] = [];
    for (let i = 0; i < 40; i++) ids.push(c.post(i % 2 ? { kind: "Ping" } : { kind: "SubmitTask", task: spec("o", { queue: "ord" }) }));
    for (const id of ids) await c.reply(id);
    const order = c.frames.filter((f) => f.requestId !== claimId).map((f) => f.requestId);
    expect(order).toEqual(ids);
    expect((await c.reply(claimId)).kind).toBe("Claimed");
    c.close();
  });
});

describe("task data limits on reports", () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(async () => {
    await broker.stop();
  });

  test("a failure's error is kept to its first 65536 bytes", async () => {
    const c = await DocsClient.open(broker.port);
    const s = await c.ok({ kind: "SubmitTask", task: spec("t", { queue: "err" }) }, "Submitted");
    const [t] = (await c.ok({ kind: "ClaimTask", queues: ["err"], max: 1, waitMs: 0 }, "Claimed")).tasks as Task[];
    const long = "é".repeat(40000); // 80000 bytes, 2-byte characters
    await c.ok({ kind: "TaskResult", id: s.id!, token: t!.token!, outcome: "failed", resultIsJson: false, result: { utf8: "" }, error: long }, "FailOutcome");
    const info = (await c.ok({ kind: "QueryStatus", id: s.id! }, "TaskInfo")).task as Task;
    expect(Buffer.byteLength(String(info.error))).toBe(65536);
    expect(long.startsWith(String(info.error))).toBe(true);
    c.close();
  });

  test("a result that would take the task past 16760832 bytes is InvalidField result; the lease still holds", async () => {
    const c = await DocsClient.open(broker.port);
    const payload = Buffer.alloc(16711680, 1).toString("hex");
    const s = await c.ok({ kind: "SubmitTask", task: spec("t", { queue: "big", payload: { hex: payload } }) }, "Submitted", 30_000);
    const [t] = (await c.ok({ kind: "ClaimTask", queues: ["big"], max: 1, waitMs: 0 }, "Claimed", 30_000)).tasks as Task[];
    const room = 16760832 - 16711680;
    const over = await c.call({ kind: "TaskResult", id: s.id!, token: t!.token!, outcome: "completed", resultIsJson: false, result: { hex: Buffer.alloc(room + 1).toString("hex") }, error: "" });
    expect(over).toMatchObject({ kind: "Error", code: 4, field: "result" });
    const fits = await c.call({ kind: "TaskResult", id: s.id!, token: t!.token!, outcome: "completed", resultIsJson: false, result: { hex: Buffer.alloc(room).toString("hex") }, error: "" });
    expect(fits.kind).toBe("Ack");
    c.close();
  }, 60_000);
});

describe("shutdown", () => {
  test("a parked claim is answered ShuttingDown (14, retryAfterMs 1000) and the connection closes", async () => {
    const broker = await startBroker();
    const c = await DocsClient.open(broker.port);
    const id = c.post({ kind: "ClaimTask", queues: ["never"], max: 1, waitMs: 30_000 });
    await c.ok({ kind: "Ping" }, "Pong");
    const stopping = broker.stop();
    const r = await c.reply(id, 10_000);
    expect(r).toMatchObject({ kind: "Error", code: 14, retryAfterMs: 1000 });
    expect(await c.closesWithin(10_000)).toBe(true);
    await stopping;
  }, 20_000);
});
