// The request/response cycle of PROTOCOL.md §9 against a real broker, spoken by the docs client:
// Hello, submits (single, batch, idempotency, priority tiers, delay), claim, renew, result, nack,
// heartbeat, workers, query/wait/cancel/retry/list, stats, ping — each as the doc describes it.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { bytesOfHex, type Json } from "./docs-codec.ts";
import { DocsClient, spec, stats } from "./docs-client.ts";

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

const hex = (s: string): Uint8Array => bytesOfHex(s);
type Task = Record<string, Json>;
const claim = async (conn: DocsClient, queues: string[], max = 10, waitMs = 0): Promise<Task[]> =>
  (await conn.ok({ kind: "ClaimTask", queues, max, waitMs }, "Claimed", waitMs + 5000)).tasks as Task[];
const query = async (id: string): Promise<Task> => (await c.ok({ kind: "QueryStatus", id }, "TaskInfo")).task as Task;
const submit = async (extra: Record<string, Json>, type = "t"): Promise<Task> => (await c.ok({ kind: "SubmitTask", task: spec(type, extra) }, "Submitted")) as unknown as Task;

describe("Hello", () => {
  test("the doc's Hello bytes get a HelloOk with the documented defaults", async () => {
    // Exactly the example frame: request id 1, version 1, key "k3y" (ignored with auth off).
    c.send(hex("00000017 01 00000001 0001 0003 6b3379 0009 70792d776f726b6572"));
    const ok = await c.reply(1);
    expect(ok.kind).toBe("HelloOk");
    expect(ok).toMatchObject({ version: 1, maxFrameBytes: 16777216, maxBatchClaim: 10, heartbeatIntervalMs: 15000, defaultLeaseMs: 30000 });
    const pkg = (await Bun.file(new URL("../../package.json", import.meta.url)).json()) as { version: string };
    expect(ok.serverVersion).toBe(pkg.version);
  });

  test("Ping answers Pong with the same id, 0 included", async () => {
    expect((await c.call({ kind: "Ping", requestId: 0 })).kind).toBe("Pong");
  });
});

describe("submit", () => {
  test("the doc's SubmitTask bytes are accepted: pending, not duplicate, defaults filled in", async () => {
    c.send(hex("0000002d 02 00000002 20 000a 656d61696c2e73656e64 0007 64656661756c74 0000000e 7b22746f223a22614062 2e63227d"));
    const r = await c.reply(2);
    expect(r).toMatchObject({ kind: "Submitted", status: "pending", duplicate: false });
    const t = await query(String(r.id));
    expect(t).toMatchObject({ type: "email.send", queue: "default", priority: 150, maxRetries: 3, leaseMs: 30000, attempts: 0, status: "pending", payloadIsJson: true, runAtMs: null });
    // Task ids are UUIDv7.
    expect(String(r.id)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test("an empty queue name means default; a future runAtMs is scheduled, a past one pending", async () => {
    const a = await submit({ queue: "" });
    expect((await query(String(a.id))).queue).toBe("default");
    const later = await submit({ queue: "delayq", runAtMs: Date.now() + 60_000 });
    expect(later.status).toBe("scheduled");
    const past = await submit({ queue: "delayq", runAtMs: Date.now() - 60_000 });
    expect(past.status).toBe("pending");
    const got = await claim(c, ["delayq"]);
    expect(got.map((t) => t.id)).toEqual([past.id!]);
  });

  test("a delayed task becomes claimable at its runAtMs", async () => {
    const s = await submit({ queue: "delay2", runAtMs: Date.now() + 600 });
    expect(s.status).toBe("scheduled");
    expect(await claim(c, ["delay2"])).toEqual([]);
    const got = await claim(c, ["delay2"], 1, 5000);
    expect(got.map((t) => t.id)).toEqual([s.id!]);
  });

  test("idempotency: the same key returns the first task with duplicate = 1", async () => {
    const a = await submit({ queue: "idem", idempotencyKey: "k-1" });
    const b = await submit({ queue: "idem", idempotencyKey: "k-1" });
    expect(b).toMatchObject({ id: a.id!, duplicate: true, status: "pending" });
    expect((await query(String(a.id))).idempotencyKey).toBe("k-1");
  });

  test("priority tiers: higher first, FIFO within one priority, across the queues of a claim", async () => {
    const low = await submit({ queue: "prio", priority: 50 });
    const n1 = await submit({ queue: "prio" });
    const n2 = await submit({ queue: "prio", priority: 150 });
    const high = await submit({ queue: "prio2", priority: 255 });
    const got = await claim(c, ["prio", "prio2"], 10);
    expect(got.map((t) => t.id)).toEqual([high.id!, n1.id!, n2.id!, low.id!]);
    expect(got.map((t) => t.priority)).toEqual([255, 150, 150, 50]);
  });

  test("SubmitBatch: outcomes in order; a bad item refuses the whole batch and names it", async () => {
    const before = (await stats(c)).tasks as { pending: number };
    const bad = await c.call({ kind: "SubmitBatch", tasks: [spec("a", { queue: "batch" }), spec("b", { queue: "a b" })] });
    expect(bad).toMatchObject({ kind: "Error", code: 4, field: "tasks[1].queue" });
    expect(((await stats(c)).tasks as { pending: number }).pending).toBe(before.pending);
    const ok = await c.ok({ kind: "SubmitBatch", tasks: [spec("a", { queue: "batch" }), spec("b", { queue: "batch", idempotencyKey: "bk" }), spec("c", { queue: "batch", idempotencyKey: "bk" })] }, "SubmittedBatch");
    const outcomes = ok.outcomes as Task[];
    expect(outcomes.length).toBe(3);
    expect(outcomes[2]).toMatchObject({ id: outcomes[1]!.id!, duplicate: true });
    expect((await claim(c, ["batch"])).map((t) => t.type)).toEqual(["a", "b"]);
  });

  test("SubmitBatch of 0 tasks and of 10001 tasks is InvalidField", async () => {
    expect(await c.call({ kind: "SubmitBatch", tasks: [] })).toMatchObject({ kind: "Error", code: 4 });
    const many = Array.from({ length: 10001 }, () => spec("x", { queue: "big" }));
    expect(await c.call({ kind: "SubmitBatch", tasks: many })).toMatchObject({ kind: "Error", code: 4 });
    const ok = await c.ok({ kind: "SubmitBatch", tasks: many.slice(1) }, "SubmittedBatch");
    expect((ok.outcomes as Task[]).length).toBe(10000);
  });
});

describe("claim and results", () => {
  test("claim max is capped at maxBatchClaim, 0 is InvalidField, waitMs over 300000 is InvalidField", async () => {
    for (let i = 0; i < 12; i++) await submit({ queue: "cap" });
    expect((await claim(c, ["cap"], 50)).length).toBe(10);
    expect(await c.call({ kind: "ClaimTask", queues: ["cap"], max: 0, waitMs: 0 })).toMatchObject({ kind: "Error", code: 4, field: "max" });
    expect(await c.call({ kind: "ClaimTask", queues: ["cap"], max: 1, waitMs: 300001 })).toMatchObject({ kind: "Error", code: 4, field: "waitMs" });
  });

  test("a blocking claim is answered by a later submit, out of request order; an empty list when waitMs passes", async () => {
    const w = await DocsClient.open(broker.port);
    const id = w.post({ kind: "ClaimTask", queues: ["block"], max: 1, waitMs: 10_000 });
    await w.ok({ kind: "Ping" }, "Pong"); // answered first: the claim waits
    const s = await submit({ queue: "block" });
    const r = await w.reply(id);
    expect((r.tasks as Task[]).map((t) => t.id)).toEqual([s.id!]);
    const t0 = Date.now();
    expect(await claim(w, ["block"], 1, 300)).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    w.close();
  });

  test("a ClaimedTask carries what was submitted; TaskResult completed is Ack, then the task shows it", async () => {
    const s = await submit({ queue: "res", priority: 77, maxRetries: 2, leaseMs: 5000, payload: { utf8: '{"a":1}' }, payloadIsJson: true }, "r.type");
    const [t] = await claim(c, ["res"]);
    expect(t).toMatchObject({ id: s.id!, attempts: 0, priority: 77, queue: "res", type: "r.type", payloadIsJson: true, maxRetries: 2 });
    expect(Math.abs(Number(t!.expiresAtMs) - (Date.now() + 5000))).toBeLessThan(2000);
    const ack = await c.call({ kind: "TaskResult", id: t!.id!, token: t!.token!, outcome: "completed", resultIsJson: true, result: { utf8: '{"ok":true}' }, error: "" });
    expect(ack.kind).toBe("Ack");
    const info = await query(String(t!.id));
    expect(info).toMatchObject({ status: "completed", resultIsJson: true, leaseExpiresAtMs: null });
    expect(info.finishedAtMs).not.toBeNull();
    expect(info.startedAtMs).not.toBeNull();
    // A second report of the same run: LeaseLost (case 5).
    expect(await c.call({ kind: "TaskResult", id: t!.id!, token: t!.token!, outcome: "completed", resultIsJson: false, result: { utf8: "" }, error: "" })).toMatchObject({ kind: "Error", code: 10 });
  });

  test("failed gives FailOutcome failed with a retry time; unrecoverable gives dead with retryAtMs 0", async () => {
    const s = await submit({ queue: "fail", maxRetries: 3 });
    const [t] = await claim(c, ["fail"]);
    const f = await c.call({ kind: "TaskResult", id: t!.id!, token: t!.token!, outcome: "failed", resultIsJson: false, result: { utf8: "" }, error: "boom" });
    expect(f).toMatchObject({ kind: "FailOutcome", status: "failed", attempts: 1 });
    expect(Number(f.retryAtMs)).toBeGreaterThan(Date.now());
    const info = await query(String(s.id));
    expect(info).toMatchObject({ status: "failed", attempts: 1, error: "boom" });
    const s2 = await submit({ queue: "fail2" });
    const [t2] = await claim(c, ["fail2"]);
    const d = await c.call({ kind: "TaskResult", id: t2!.id!, token: t2!.token!, outcome: "unrecoverable", resultIsJson: false, result: { utf8: "" }, error: "bad" });
    expect(d).toMatchObject({ kind: "FailOutcome", status: "dead", retryAtMs: null, attempts: 1 });
    expect((await query(String(s2.id))).status).toBe("dead");
  });

  test("an unknown id is NotFound, a wrong token LeaseLost", async () => {
    await submit({ queue: "lost" });
    const [t] = await claim(c, ["lost"]);
    expect(await c.call({ kind: "TaskResult", id: "01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90", token: 1, outcome: "completed", resultIsJson: false, result: { utf8: "" }, error: "" })).toMatchObject({ kind: "Error", code: 8 });
    expect(await c.call({ kind: "TaskResult", id: t!.id!, token: (Number(t!.token) + 1) >>> 0, outcome: "completed", resultIsJson: false, result: { utf8: "" }, error: "" })).toMatchObject({ kind: "Error", code: 10 });
  });

  test("RenewLease: a new expiry per lease, 0 (absent) for a lost one; Nack hands back without an attempt", async () => {
    const s = await submit({ queue: "renew", leaseMs: 2000 });
    const [t] = await claim(c, ["renew"]);
    await Bun.sleep(50);
    const r = await c.ok({ kind: "RenewLease", leases: [{ id: t!.id!, token: t!.token! }, { id: t!.id!, token: (Number(t!.token) + 1) >>> 0 }] }, "Renewed");
    const exp = r.expiresAtMs as (number | null)[];
    expect(exp[1]).toBeNull();
    expect(exp[0]!).toBeGreaterThan(Number(t!.expiresAtMs));
    expect((await c.call({ kind: "Nack", leases: [{ id: t!.id!, token: t!.token! }] })).kind).toBe("Ack");
    expect(await query(String(s.id))).toMatchObject({ status: "pending", attempts: 0 });
    // A stale token in Nack: LeaseLost.
    expect(await c.call({ kind: "Nack", leases: [{ id: t!.id!, token: t!.token! }] })).toMatchObject({ kind: "Error", code: 10 });
  });

  test("FIFO is by the time a task became ready: a handed-back task waits behind those already ready", async () => {
    const a = await submit({ queue: "order" });
    const b = await submit({ queue: "order" });
    const [t] = await claim(c, ["order"], 1);
    expect(t!.id).toBe(a.id!);
    await c.ok({ kind: "Nack", leases: [{ id: t!.id!, token: t!.token! }] }, "Ack");
    expect((await claim(c, ["order"], 2)).map((x) => x.id)).toEqual([b.id!, a.id!]);
  });

  test("an expired lease counts an attempt and the task is claimable again", async () => {
    const s = await submit({ queue: "expire", leaseMs: 200 });
    const [t] = await claim(c, ["expire"]);
    const [again] = await claim(c, ["expire"], 1, 5000);
    expect(again!.id).toBe(s.id!);
    expect(again!.attempts).toBe(1);
    expect(again!.token).not.toBe(t!.token);
  });

  test("TaskResultBatch: items are independent, entries in order", async () => {
    await submit({ queue: "rb" });
    await submit({ queue: "rb" });
    const [a, b] = await claim(c, ["rb"]);
    const r = await c.ok({ kind: "TaskResultBatch", results: [
      { id: a!.id!, token: a!.token!, outcome: "completed", resultIsJson: false, result: { utf8: "x" }, error: "" },
      { id: b!.id!, token: b!.token!, outcome: "failed", resultIsJson: false, result: { utf8: "" }, error: "e" },
      { id: a!.id!, token: a!.token!, outcome: "completed", resultIsJson: false, result: { utf8: "" }, error: "" },
    ] }, "ResultBatchOutcome");
    const e = r.entries as Task[];
    expect(e.map((x) => x.entry)).toEqual(["ok", "fail", "error"]);
    expect(e[1]).toMatchObject({ status: "failed", attempts: 1 });
    expect(e[2]).toMatchObject({ code: 10 });
    expect(await c.call({ kind: "TaskResultBatch", results: [] })).toMatchObject({ kind: "Error", code: 4 });
  });
});

describe("workers", () => {
  test("RegisterWorker, Heartbeat, ListWorkers, DeregisterWorker as documented", async () => {
    const w = await DocsClient.open(broker.port);
    // The doc's RegisterWorker bytes.
    w.send(hex("00000037 09 0000000a 0002 7731 0006 686f73742d61 00001092 0001 0007 64656661756c74 0004 0005 312e302e30 0001 0004 7a6f6e65 0004 65752d31"));
    expect(await w.reply(10)).toMatchObject({ kind: "Registered", heartbeatIntervalMs: 15000 });
    await submit({ queue: "" }, "wk");
    const got = await claim(w, ["default"], 10);
    const mine = got.filter((t) => t.type === "wk");
    expect(mine.length).toBe(1);
    const hb = await w.ok({ kind: "Heartbeat", workerId: "w1", cpuPercent: 12.5, memoryMb: 256, inFlight: got.map((t) => ({ id: t.id!, token: t.token! })) }, "HeartbeatOk");
    expect(hb.command).toBe("none");
    expect((hb.renewed as number[]).every((x) => x > Date.now())).toBe(true);
    const list = JSON.parse(String((await w.ok({ kind: "ListWorkers" }, "Workers")).json)) as Record<string, unknown>[];
    const w1 = list.find((x) => x.id === "w1")!;
    expect(w1).toMatchObject({ status: "alive", address: "127.0.0.1", hostname: "host-a", pid: 4242, queues: ["default"], concurrency: 4, version: "1.0.0", labels: { zone: "eu-1" }, cpuPercent: 12.5, memoryMb: 256, inFlight: got.length, autoRegistered: false, command: 0, running: got.length, disconnectedAtMs: null, deadAtMs: null });
    expect(Object.keys(w1).sort()).toEqual(["address", "autoRegistered", "command", "concurrency", "cpuPercent", "deadAtMs", "disconnectedAtMs", "hostname", "id", "inFlight", "labels", "lastSeenAtMs", "memoryMb", "pid", "queues", "registeredAtMs", "running", "status", "version"]);
    // Deregister: its tasks go back at once, not counted as an attempt.
    expect((await w.call({ kind: "DeregisterWorker", workerId: "w1" })).kind).toBe("Ack");
    expect(await query(String(mine[0]!.id))).toMatchObject({ status: "pending", attempts: 0 });
    w.close();
  });

  test("a first Heartbeat registers an unknown worker (autoRegistered)", async () => {
    const w = await DocsClient.open(broker.port);
    await w.ok({ kind: "Heartbeat", workerId: "auto-1", cpuPercent: 0, memoryMb: 1, inFlight: [] }, "HeartbeatOk");
    const list = JSON.parse(String((await w.ok({ kind: "ListWorkers" }, "Workers")).json)) as Record<string, unknown>[];
    expect(list.find((x) => x.id === "auto-1")).toMatchObject({ autoRegistered: true, status: "alive" });
    w.close();
  });

  test("worker field limits: id 129 bytes, 65 labels, concurrency 0, a negative cpuPercent are InvalidField", async () => {
    const reg = (extra: Record<string, Json>) => c.call({ kind: "RegisterWorker", workerId: "lim", hostname: "h", pid: 1, queues: [], concurrency: 1, version: "v", labels: [], ...extra });
    expect(await reg({ workerId: "x".repeat(129) })).toMatchObject({ kind: "Error", code: 4 });
    expect(await reg({ labels: Array.from({ length: 65 }, (_, i) => ({ key: `k${i}`, value: "v" })) })).toMatchObject({ kind: "Error", code: 4 });
    expect(await reg({ concurrency: 0 })).toMatchObject({ kind: "Error", code: 4 });
    expect(await reg({ queues: ["a b"] })).toMatchObject({ kind: "Error", code: 4 });
    expect(await c.call({ kind: "Heartbeat", workerId: "lim", cpuPercent: -1, memoryMb: 1, inFlight: [] })).toMatchObject({ kind: "Error", code: 4 });
    expect(await c.call({ kind: "Heartbeat", workerId: "lim", cpuPercent: Number.NaN, memoryMb: 1, inFlight: [] })).toMatchObject({ kind: "Error", code: 4 });
    expect((await reg({ workerId: "x".repeat(128), labels: Array.from({ length: 64 }, (_, i) => ({ key: `k${i}`, value: "v".repeat(255) })) })).kind).toBe("Registered");
  });
});

describe("query, wait, cancel, retry, list", () => {
  test("WaitResult answers when the task finishes, or with its current state after waitMs", async () => {
    const s = await submit({ queue: "wait" });
    const t0 = Date.now();
    const cur = await c.ok({ kind: "WaitResult", id: s.id!, waitMs: 300 }, "TaskInfo");
    expect((cur.task as Task).status).toBe("pending");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    const waitId = c.post({ kind: "WaitResult", id: s.id!, waitMs: 10_000 });
    const w = await DocsClient.open(broker.port);
    const [t] = await claim(w, ["wait"]);
    await w.ok({ kind: "TaskResult", id: t!.id!, token: t!.token!, outcome: "completed", resultIsJson: false, result: { utf8: "done" }, error: "" }, "Ack");
    const done = await c.reply(waitId);
    expect((done.task as Task).status).toBe("completed");
    expect(await c.call({ kind: "WaitResult", id: s.id!, waitMs: 300001 })).toMatchObject({ kind: "Error", code: 4 });
    w.close();
  });

  test("CancelTask and RetryTask: allowed states, InvalidState otherwise, NotFound for unknown ids", async () => {
    const s = await submit({ queue: "cancel" });
    expect(((await c.ok({ kind: "CancelTask", id: s.id! }, "TaskInfo")).task as Task).status).toBe("cancelled");
    expect(await c.call({ kind: "CancelTask", id: s.id! })).toMatchObject({ kind: "Error", code: 9 });
    const r = (await c.ok({ kind: "RetryTask", id: s.id! }, "TaskInfo")).task as Task;
    expect(r).toMatchObject({ status: "pending", attempts: 0 });
    expect(await c.call({ kind: "RetryTask", id: s.id! })).toMatchObject({ kind: "Error", code: 9 });
    expect(await c.call({ kind: "QueryStatus", id: "01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90" })).toMatchObject({ kind: "Error", code: 8 });
    expect(await c.call({ kind: "CancelTask", id: "01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90" })).toMatchObject({ kind: "Error", code: 8 });
    // A scheduled task and one failed awaiting retry can be cancelled too.
    const sch = await submit({ queue: "cancel", runAtMs: Date.now() + 60_000 });
    expect(((await c.ok({ kind: "CancelTask", id: sch.id! }, "TaskInfo")).task as Task).status).toBe("cancelled");
  });

  test("ListTasks: filters, oldest first, pages joined by nextCursor (empty = no more)", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(String((await submit({ queue: "list" }, i % 2 ? "odd" : "even")).id));
    const listAll = async (filter: Record<string, Json>, limit: number): Promise<string[]> => {
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 100; page++) {
        const r = await c.ok({ kind: "ListTasks", ...filter, limit, ...(cursor ? { cursor } : {}) }, "TaskList");
        seen.push(...(r.tasks as Task[]).map((t) => String(t.id)));
        cursor = r.nextCursor as string | null;
        if (cursor === null) return seen;
      }
      throw new Error("ListTasks did not end within 100 pages");
    };
    expect(await listAll({ queue: "list" }, 2)).toEqual(ids);
    // Thousands of older pending tasks (the 10000-task batch above) come first in the status
    // index: the filtered listing may answer short or empty pages before it reaches these.
    expect(await listAll({ queue: "list", type: "even", status: "pending" }, 100)).toEqual([ids[0]!, ids[2]!, ids[4]!]);
    expect(await c.call({ kind: "ListTasks", limit: 0 })).toMatchObject({ kind: "Error", code: 4 });
    expect(await c.call({ kind: "ListTasks", limit: 1001 })).toMatchObject({ kind: "Error", code: 4 });
    expect(await c.call({ kind: "ListTasks", limit: 10, cursor: "not-a-cursor" })).toMatchObject({ kind: "Error", code: 4 });
  });

  test("GetStats has every key of the doc's block", async () => {
    const s = await stats(c);
    for (const k of ["uptimeMs", "tasks", "workers", "parkedClaims", "resultWaiters", "pausedQueues", "totals", "background", "nodeId", "backend", "connections", "commits"]) expect(s).toHaveProperty(k);
    expect(s.backend).toBe("sqlite");
    expect(s.nodeId).toBe("node1");
    for (const k of ["pending", "scheduled", "inProgress", "retrying", "completed", "dead", "cancelled", "queues"]) expect(s.tasks).toHaveProperty(k);
  });
});
