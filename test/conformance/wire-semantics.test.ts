// The finer promises of PROTOCOL.md against a live broker: deep pipelines and slow readers lose
// nothing, duplicates report the existing task's status, parked claims come first, the cases of
// LeaseLost (restart included) and what counts as an attempt.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import type { Json } from "./docs-codec.ts";
import { DocsClient, spec } from "./docs-client.ts";

type Task = Record<string, Json>;
let broker: TestBroker;
let c: DocsClient;
beforeAll(async () => {
  broker = await startBroker();
  c = await DocsClient.open(broker.port);
});
afterAll(async () => {
  c.close();
  await broker.stop();
});
const submit = async (queue: string, extra: Record<string, Json> = {}): Promise<Task> => (await c.ok({ kind: "SubmitTask", task: spec("t", { queue, ...extra }) }, "Submitted")) as unknown as Task;
const claim = async (conn: DocsClient, queue: string, max = 1, waitMs = 0): Promise<Task[]> => (await conn.ok({ kind: "ClaimTask", queues: [queue], max, waitMs }, "Claimed", waitMs + 5000)).tasks as Task[];
const query = async (id: Json | undefined): Promise<Task> => (await c.ok({ kind: "QueryStatus", id: id! }, "TaskInfo")).task as Task;
const report = (conn: DocsClient, t: Task, outcome = "completed") => conn.call({ kind: "TaskResult", id: t.id!, token: t.token!, outcome, resultIsJson: false, result: { utf8: "" }, error: outcome === "completed" ? "" : "e" });

describe("pipelining", () => {
  test("20000 Pings in one write, read only after a pause, all come back in order", async () => {
    const p = await DocsClient.open(broker.port);
    p.pause();
    const ids: number[] = [];
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 20000; i++) { ids.push(i + 1); frames.push(new Uint8Array([0, 0, 0, 5, 0x12, (i + 1) >>> 24, ((i + 1) >>> 16) & 255, ((i + 1) >>> 8) & 255, (i + 1) & 255])); }
    p.send(Buffer.concat(frames));
    await Bun.sleep(300);
    p.resume();
    await p.reply(20000, 20_000);
    expect(p.frames.map((f) => f.requestId)).toEqual(ids);
    expect(p.frames.every((f) => f.kind === "Pong")).toBe(true);
    p.close();
  }, 30_000);
});

describe("submits and claims", () => {
  test("a duplicate submit reports the existing task's status", async () => {
    const s = await submit("dupst", { idempotencyKey: "dup-status" });
    await claim(c, "dupst");
    const d = await submit("dupst", { idempotencyKey: "dup-status" });
    expect(d).toMatchObject({ id: s.id!, duplicate: true, status: "in_progress" });
  });

  test("a new claim does not take a task a parked claim on the same queue could take", async () => {
    const parked = await DocsClient.open(broker.port);
    const other = await DocsClient.open(broker.port);
    const id = parked.post({ kind: "ClaimTask", queues: ["parkq"], max: 1, waitMs: 10_000 });
    await parked.ok({ kind: "Ping" }, "Pong");
    await Bun.sleep(50);
    const s = await submit("parkq");
    expect(await claim(other, "parkq")).toEqual([]);
    expect(((await parked.reply(id)).tasks as Task[]).map((t) => t.id)).toEqual([s.id!]);
    parked.close();
    other.close();
  });

  test("failed with maxRetries 0 is dead; WaitResult on a finished task answers at once; RetryTask resets attempts", async () => {
    const s = await submit("dead0", { maxRetries: 0 });
    const [t] = await claim(c, "dead0");
    expect(await report(c, t!, "failed")).toMatchObject({ kind: "FailOutcome", status: "dead", attempts: 1 });
    const t0 = Date.now();
    expect(((await c.ok({ kind: "WaitResult", id: s.id!, waitMs: 10_000 }, "TaskInfo")).task as Task).status).toBe("dead");
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(((await c.ok({ kind: "RetryTask", id: s.id! }, "TaskInfo")).task as Task)).toMatchObject({ status: "pending", attempts: 0 });
  });
});

describe("LeaseLost and attempts", () => {
  test("after DeregisterWorker the old token is LeaseLost, and the message names the status now", async () => {
    const w = await DocsClient.open(broker.port);
    await w.ok({ kind: "RegisterWorker", workerId: "ll-dereg", hostname: "h", pid: 1, queues: [], concurrency: 1, version: "1", labels: [] }, "Registered");
    const s = await submit("lldereg");
    const [t] = await claim(w, "lldereg");
    await w.ok({ kind: "DeregisterWorker", workerId: "ll-dereg" }, "Ack");
    const r = await report(w, t!);
    expect(r).toMatchObject({ kind: "Error", code: 10 });
    expect(String(r.message)).toContain("pending");
    expect(await query(s.id)).toMatchObject({ status: "pending", attempts: 0 });
    w.close();
  });

  test("a broker restart voids every lease (LeaseLost) and does not count an attempt", async () => {
    const b = await startBroker();
    const w = await DocsClient.open(b.port);
    const s = (await w.ok({ kind: "SubmitTask", task: spec("t", { queue: "rs" }) }, "Submitted")) as unknown as Task;
    const [t] = (await w.ok({ kind: "ClaimTask", queues: ["rs"], max: 1, waitMs: 0 }, "Claimed")).tasks as Task[];
    w.close();
    await b.stopKeepData();
    const again = await startBroker({}, b.dataDir);
    const w2 = await DocsClient.open(again.port);
    expect(await report(w2, t!)).toMatchObject({ kind: "Error", code: 10 });
    const info = (await w2.ok({ kind: "QueryStatus", id: s.id! }, "TaskInfo")).task as Task;
    expect(info).toMatchObject({ status: "pending", attempts: 0 });
    const [t2] = (await w2.ok({ kind: "ClaimTask", queues: ["rs"], max: 1, waitMs: 0 }, "Claimed")).tasks as Task[];
    expect(t2!.token).not.toBe(t!.token);
    w2.close();
    await again.stop();
  });
});

describe("defaults and the fine print of leases", () => {
  test("an empty queue list claims from default; ListTasks with an empty queue lists default", async () => {
    const s = await submit("");
    const other = await submit("not-default");
    const [t] = (await c.ok({ kind: "ClaimTask", queues: [], max: 1, waitMs: 0 }, "Claimed")).tasks as Task[];
    expect(t!.id).toBe(s.id!);
    const list = await c.ok({ kind: "ListTasks", queue: "", limit: 1000 }, "TaskList");
    const ids = (list.tasks as Task[]).map((x) => x.id);
    expect(ids).toContain(s.id!);
    expect(ids).not.toContain(other.id!);
  });

  test("RenewLease extends by the task's leaseMs from now", async () => {
    await submit("renew2", { leaseMs: 60_000 });
    const [t] = await claim(c, "renew2");
    const before = Date.now();
    const r = await c.ok({ kind: "RenewLease", leases: [{ id: t!.id!, token: t!.token! }] }, "Renewed");
    const exp = (r.expiresAtMs as number[])[0]!;
    expect(exp).toBeGreaterThanOrEqual(before + 60_000 - 50);
    expect(exp).toBeLessThanOrEqual(Date.now() + 60_000 + 50);
  });

  test("one stale lease in a Nack refuses the whole request: the good one stays leased", async () => {
    const a = await submit("nackall");
    await submit("nackall");
    const [t1, t2] = await claim(c, "nackall", 2);
    await report(c, t2!);
    expect(await c.call({ kind: "Nack", leases: [{ id: t1!.id!, token: t1!.token! }, { id: t2!.id!, token: t2!.token! }] })).toMatchObject({ kind: "Error", code: 10 });
    expect(await query(a.id)).toMatchObject({ status: "in_progress" });
  });

  test("with auth off every client is admin: another connection may heartbeat a registered worker id", async () => {
    const a = await DocsClient.open(broker.port);
    await a.ok({ kind: "RegisterWorker", workerId: "shared-id", hostname: "h", pid: 1, queues: [], concurrency: 1, version: "1", labels: [] }, "Registered");
    const b = await DocsClient.open(broker.port);
    expect((await b.call({ kind: "Heartbeat", workerId: "shared-id", cpuPercent: 0, memoryMb: 0, inFlight: [] })).kind).toBe("HeartbeatOk");
    a.close();
    b.close();
  });

  test("subscriptions take turns: the one waiting longest first, the one just served to the back", async () => {
    const a = await DocsClient.open(broker.port);
    const b = await DocsClient.open(broker.port);
    await a.ok({ kind: "Subscribe", subscriptionId: 1, queues: ["turns"], credits: 10 }, "Ack");
    await Bun.sleep(20);
    await b.ok({ kind: "Subscribe", subscriptionId: 1, queues: ["turns"], credits: 10 }, "Ack");
    const order: string[] = [];
    const count = (x: DocsClient): number => x.frames.filter((f) => f.kind === "Delivery").length;
    for (let i = 0; i < 4; i++) {
      const [na, nb] = [count(a), count(b)];
      await submit("turns");
      for (let spin = 0; spin < 250 && count(a) === na && count(b) === nb; spin++) await Bun.sleep(20);
      order.push(count(a) > na ? "a" : count(b) > nb ? "b" : "none");
    }
    expect(order).toEqual(["a", "b", "a", "b"]);
    a.close();
    b.close();
  });
});

describe("paused queues and fair claims", () => {
  test("a pause is listed in pausedQueues, blocks claims at once, and outlives a restart (kept by the store)", async () => {
    const b = await startBroker();
    const w = await DocsClient.open(b.port);
    await w.ok({ kind: "SubmitTask", task: spec("t", { queue: "held" }) }, "Submitted");
    expect((await fetch(`http://127.0.0.1:${b.httpPort}/api/v1/queues/held/pause`, { method: "POST" })).status).toBe(200);
    expect((await w.ok({ kind: "ClaimTask", queues: ["held"], max: 1, waitMs: 0 }, "Claimed")).tasks).toEqual([]);
    const pausedOf = async (x: DocsClient): Promise<unknown> => JSON.parse(String((await x.ok({ kind: "GetStats" }, "Stats")).json)).pausedQueues;
    expect(await pausedOf(w)).toEqual(["held"]);
    w.close();
    await b.stopKeepData();
    const again = await startBroker({}, b.dataDir);
    const w2 = await DocsClient.open(again.port);
    expect(await pausedOf(w2)).toEqual(["held"]);
    expect((await w2.ok({ kind: "ClaimTask", queues: ["held"], max: 1, waitMs: 0 }, "Claimed")).tasks).toEqual([]);
    w2.close();
    await again.stop();
  });

  test("parked claims are served in arrival order", async () => {
    const first = await DocsClient.open(broker.port);
    const second = await DocsClient.open(broker.port);
    const id1 = first.post({ kind: "ClaimTask", queues: ["fair"], max: 1, waitMs: 10_000 });
    await first.ok({ kind: "Ping" }, "Pong");
    await Bun.sleep(30);
    const id2 = second.post({ kind: "ClaimTask", queues: ["fair"], max: 1, waitMs: 10_000 });
    await second.ok({ kind: "Ping" }, "Pong");
    await Bun.sleep(30);
    const a = await submit("fair");
    expect(((await first.reply(id1)).tasks as Task[]).map((t) => t.id)).toEqual([a.id!]);
    const b = await submit("fair");
    expect(((await second.reply(id2)).tasks as Task[]).map((t) => t.id)).toEqual([b.id!]);
    first.close();
    second.close();
  });

  test("undefined ListTasks flag bits are InvalidField flags", async () => {
    c.send(new Uint8Array([0, 0, 0, 8, 0x0f, 0, 0, 0, 77, 0x20, 0, 1]));
    expect(await c.reply(77)).toMatchObject({ kind: "Error", code: 4, field: "flags" });
  });
});
