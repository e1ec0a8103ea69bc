// PROTOCOL.md §4 against a live broker: Hello and auth, roles, worker-id ownership, lease tokens as
// bearer tokens, and the per-connection limits and deadlines (frame, auth, idle, max connections).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import type { Json } from "./docs-codec.ts";
import { DocsClient, spec } from "./docs-client.ts";

type Task = Record<string, Json>;
const KEYS = [
  { name: "ops", role: "admin", key: "admin-key-000001" },
  { name: "shop", role: "producer", key: "prod-key-0000001" },
  { name: "shop2", role: "producer", key: "prod-key-0000002" },
  { name: "wk", role: "worker", key: "work-key-0000001" },
  { name: "wk2", role: "worker", key: "work-key-0000002" },
];

describe("auth on", () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker({ "auth.enabled": true, "auth.api_keys": KEYS, "broker.auth_timeout_secs": 2 });
  });
  afterAll(async () => {
    await broker.stop();
  });
  const as = async (key: string): Promise<DocsClient> => {
    const c = await DocsClient.open(broker.port);
    await c.ok({ kind: "Hello", version: 1, apiKey: key, clientName: "conformance" }, "HelloOk");
    return c;
  };

  test("before Hello only Hello and Ping: others get Unauthorized and the connection stays; a good Hello then opens it", async () => {
    const c = await DocsClient.open(broker.port);
    expect((await c.call({ kind: "Ping" })).kind).toBe("Pong");
    expect(await c.call({ kind: "SubmitTask", task: spec("t") })).toMatchObject({ kind: "Error", code: 6 });
    expect(await c.call({ kind: "GetStats" })).toMatchObject({ kind: "Error", code: 6 });
    await c.ok({ kind: "Hello", version: 1, apiKey: "admin-key-000001", clientName: "py-worker" }, "HelloOk");
    expect((await c.call({ kind: "SubmitTask", task: spec("t") })).kind).toBe("Submitted");
    c.close();
  });

  test("a wrong key is Unauthorized field api_key; the third failure closes the connection", async () => {
    const c = await DocsClient.open(broker.port);
    for (let i = 0; i < 2; i++) expect(await c.call({ kind: "Hello", version: 1, apiKey: "nope", clientName: "x" })).toMatchObject({ kind: "Error", code: 6, field: "api_key" });
    expect(await c.closesWithin(100)).toBe(false);
    expect(await c.call({ kind: "Hello", version: 1, apiKey: "nope", clientName: "x" })).toMatchObject({ kind: "Error", code: 6 });
    expect(await c.closesWithin(2000)).toBe(true);
  });

  test("roles: a request outside the key's role is Forbidden and the connection stays", async () => {
    const p = await as("prod-key-0000001");
    expect(await p.call({ kind: "ClaimTask", queues: [], max: 1, waitMs: 0 })).toMatchObject({ kind: "Error", code: 7 });
    expect(await p.call({ kind: "Subscribe", subscriptionId: 1, queues: [], credits: 1 })).toMatchObject({ kind: "Error", code: 7 });
    expect(await p.call({ kind: "EnableNotices", notices: 1 })).toMatchObject({ kind: "Error", code: 7 });
    expect(await p.call({ kind: "Unsubscribe", subscriptionId: 1 })).toMatchObject({ kind: "Error", code: 7 });
    expect(await p.call({ kind: "TaskResultBatch", results: [{ id: "01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90", token: 1, outcome: "completed", resultIsJson: false, result: { utf8: "" }, error: "" }] })).toMatchObject({ kind: "Error", code: 7 });
    const s = await p.ok({ kind: "SubmitTask", task: spec("t", { queue: "roles" }) }, "Submitted");
    expect(await p.call({ kind: "RetryTask", id: s.id! })).toMatchObject({ kind: "Error", code: 7 });
    for (const kind of ["GetStats", "ListWorkers"]) expect((await p.call({ kind })).kind).not.toBe("Error");
    expect((await p.call({ kind: "ListTasks", limit: 1 })).kind).toBe("TaskList");
    const w = await as("work-key-0000001");
    expect(await w.call({ kind: "SubmitTask", task: spec("t") })).toMatchObject({ kind: "Error", code: 7 });
    expect(await w.call({ kind: "QueryStatus", id: s.id! })).toMatchObject({ kind: "Error", code: 7 });
    expect(await w.call({ kind: "GetStats" })).toMatchObject({ kind: "Error", code: 7 });
    expect((await w.call({ kind: "EnableNotices", notices: 1 })).kind).toBe("Ack");
    expect((await w.call({ kind: "Ping" })).kind).toBe("Pong");
    p.close();
    w.close();
  });

  test("a producer may cancel any task by id, not only its own submits (the broker records no submitter)", async () => {
    const p1 = await as("prod-key-0000001");
    const p2 = await as("prod-key-0000002");
    const s = await p1.ok({ kind: "SubmitTask", task: spec("t", { queue: "own" }) }, "Submitted");
    expect(((await p2.ok({ kind: "CancelTask", id: s.id! }, "TaskInfo")).task as Task).status).toBe("cancelled");
    p1.close();
    p2.close();
  });

  test("a worker id belongs to its connection; after it closes, the same key (not another) may take it", async () => {
    const a = await as("work-key-0000001");
    await a.ok({ kind: "RegisterWorker", workerId: "owned", hostname: "h", pid: 1, queues: [], concurrency: 1, version: "1", labels: [] }, "Registered");
    const b = await as("work-key-0000002");
    const reg = { kind: "RegisterWorker", workerId: "owned", hostname: "h", pid: 2, queues: [], concurrency: 1, version: "1", labels: [] as Json[] };
    expect(await b.call(reg)).toMatchObject({ kind: "Error", code: 7, field: "worker_id" });
    expect(await b.call({ kind: "Heartbeat", workerId: "owned", cpuPercent: 0, memoryMb: 0, inFlight: [] })).toMatchObject({ kind: "Error", code: 7, field: "worker_id" });
    expect(await b.call({ kind: "DeregisterWorker", workerId: "owned" })).toMatchObject({ kind: "Error", code: 7, field: "worker_id" });
    const same = await as("work-key-0000001");
    expect(await same.call(reg)).toMatchObject({ kind: "Error", code: 7 }); // still open on a
    a.close();
    await a.closedPromise;
    let answered = await same.call(reg);
    for (let i = 0; i < 50 && answered.kind === "Error"; i++) { await Bun.sleep(20); answered = await same.call(reg); }
    expect(answered.kind).toBe("Registered");
    same.close();
    await same.closedPromise;
    await Bun.sleep(100);
    expect(await b.call(reg)).toMatchObject({ kind: "Error", code: 7, field: "worker_id" });
    b.close();
  });

  test("a lease token is a bearer token: another worker connection may report the task with it", async () => {
    const p = await as("prod-key-0000001");
    const s = await p.ok({ kind: "SubmitTask", task: spec("t", { queue: "bearer" }) }, "Submitted");
    const a = await as("work-key-0000001");
    const [t] = (await a.ok({ kind: "ClaimTask", queues: ["bearer"], max: 1, waitMs: 0 }, "Claimed")).tasks as Task[];
    a.close();
    const b = await as("work-key-0000002");
    expect(await b.call({ kind: "TaskResult", id: s.id!, token: (Number(t!.token) ^ 1) >>> 0, outcome: "completed", resultIsJson: false, result: { utf8: "" }, error: "" })).toMatchObject({ kind: "Error", code: 10 });
    expect((await b.call({ kind: "TaskResult", id: s.id!, token: t!.token!, outcome: "completed", resultIsJson: false, result: { utf8: "" }, error: "" })).kind).toBe("Ack");
    p.close();
    b.close();
  });

  test("auth deadline: no successful Hello within auth_timeout_secs is Unauthorized (code 6, id 0) and closes; Pings do not extend it", async () => {
    const c = await DocsClient.open(broker.port);
    const t0 = Date.now();
    const pinger = setInterval(() => c.post({ kind: "Ping" }), 300);
    const f = await c.waitFor((x) => x.kind === "Error", 6000);
    clearInterval(pinger);
    expect(f).toMatchObject({ code: 6, requestId: 0 });
    expect(String(f.message)).toContain("auth_timeout_secs");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
    expect(await c.closesWithin(2000)).toBe(true);
  });
});

describe("limits and deadlines, auth off", () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker({ "broker.frame_timeout_secs": 1, "broker.idle_timeout_secs": 1, "broker.max_connections": 4, "broker.max_connections_per_address": 1 });
  });
  afterAll(async () => {
    await broker.stop();
  });

  test("frame deadline: a frame not complete in frame_timeout_secs gets Timeout (16, id 0) naming the key, then closes", async () => {
    const c = await DocsClient.open(broker.port);
    c.send(new Uint8Array([0, 0, 0, 9, 0x12, 0]));
    const f = await c.waitFor((x) => x.kind === "Error", 5000);
    expect(f).toMatchObject({ code: 16, requestId: 0 });
    expect(String(f.message)).toContain("frame_timeout_secs");
    expect(await c.closesWithin(2000)).toBe(true);
  });

  test("idle: a connection with nothing going on is closed after idle_timeout_secs, without an Error frame", async () => {
    const c = await DocsClient.open(broker.port);
    await c.ok({ kind: "Ping" }, "Pong");
    expect(await c.closesWithin(4000)).toBe(true);
    expect(c.frames.filter((f) => f.kind === "Error")).toEqual([]);
  });

  test("idle: a subscription alone does not keep a connection open; it closes after about idle_timeout_secs", async () => {
    const c = await DocsClient.open(broker.port);
    await c.ok({ kind: "Subscribe", subscriptionId: 1, queues: ["idle-sub"], credits: 1 }, "Ack");
    const t0 = Date.now();
    expect(await c.closesWithin(4000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(800);
  });

  test("idle: a connection parked on a blocking claim is not idle", async () => {
    const c = await DocsClient.open(broker.port);
    const r = await c.call({ kind: "ClaimTask", queues: ["idle-claim"], max: 1, waitMs: 2500 }, 5000);
    expect(r).toMatchObject({ kind: "Claimed", tasks: [] });
    c.close();
  });

  test("max_connections: one more gets TooManyConnections (12, id 0) and is closed; loopback ignores the per-address limit (1 here)", async () => {
    const held: DocsClient[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await DocsClient.open(broker.port);
      await c.ok({ kind: "Ping" }, "Pong");
      held.push(c);
    }
    const extra = await DocsClient.open(broker.port);
    const f = await extra.waitFor(() => true, 3000);
    expect(f).toMatchObject({ kind: "Error", code: 12, requestId: 0 });
    expect(await extra.closesWithin(2000)).toBe(true);
    for (const c of held) c.close();
  });
});
