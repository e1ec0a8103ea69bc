// PROTOCOL.md's pushed frames against a live broker: Subscribe/Unsubscribe and the credit flow of
// Delivery, EnableNotices and TaskCancelled, and the operator's worker commands (quiet, shutdown).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { bytesOfHex, type Json } from "./docs-codec.ts";
import { DocsClient, spec, stats } from "./docs-client.ts";

let broker: TestBroker;
let producer: DocsClient;
beforeAll(async () => {
  broker = await startBroker();
  producer = await DocsClient.open(broker.port);
});
afterAll(async () => {
  producer.close();
  await broker.stop();
});

type Task = Record<string, Json>;
const submit = async (queue: string, extra: Record<string, Json> = {}): Promise<string> =>
  String((await producer.ok({ kind: "SubmitTask", task: spec("s", { queue, ...extra }) }, "Submitted")).id);
const query = async (id: string): Promise<Task> => (await producer.ok({ kind: "QueryStatus", id }, "TaskInfo")).task as Task;
const rest = (path: string, method = "POST"): Promise<Response> => fetch(`http://127.0.0.1:${broker.httpPort}${path}`, { method });

/** Collects delivered tasks for `sub` until `n` arrived (or throws after timeoutMs). */
async function delivered(c: DocsClient, sub: number, n: number, timeoutMs = 5000): Promise<Task[]> {
  const out: Task[] = [];
  while (out.length < n) {
    const d = await c.waitFor((f) => f.kind === "Delivery" && f.subscriptionId === sub, timeoutMs, `Delivery for ${sub}`);
    expect(d.requestId).toBe(0);
    expect((d.tasks as Task[]).length).toBeGreaterThan(0);
    out.push(...(d.tasks as Task[]));
  }
  return out;
}
/** Asserts that no Delivery for `sub` arrives within ms. */
async function noDelivery(c: DocsClient, sub: number, ms = 300): Promise<void> {
  await Bun.sleep(ms);
  expect(c.pending("Delivery").filter((f) => f.subscriptionId === sub)).toEqual([]);
}
const complete = (c: DocsClient, t: Task) => c.ok({ kind: "TaskResult", id: t.id!, token: t.token!, outcome: "completed", resultIsJson: false, result: { utf8: "" }, error: "" }, "Ack");

describe("Subscribe and Delivery", () => {
  test("the doc's Subscribe bytes are acked with their request id; tasks come in Delivery frames", async () => {
    const w = await DocsClient.open(broker.port);
    w.send(bytesOfHex("00000016 15 00000017 00000001 0001 0007 64656661756c74 0010"));
    expect((await w.reply(23)).kind).toBe("Ack");
    const id = await submit("default", { priority: 9, payloadIsJson: true, payload: { utf8: "[1]" }, maxRetries: 4 });
    const [t] = await delivered(w, 1, 1);
    expect(t).toMatchObject({ id, priority: 9, queue: "default", type: "s", payloadIsJson: true, payload: { hex: Buffer.from("[1]").toString("hex") }, attempts: 0, maxRetries: 4 });
    expect(await query(id)).toMatchObject({ status: "in_progress" });
    await complete(w, t!);
    w.close();
  });

  test("credits bound the tasks out; each result, nack or cancel gives one back", async () => {
    const w = await DocsClient.open(broker.port);
    await w.ok({ kind: "Subscribe", subscriptionId: 7, queues: ["cred"], credits: 2 }, "Ack");
    const ids = [await submit("cred"), await submit("cred"), await submit("cred"), await submit("cred"), await submit("cred")];
    const first = await delivered(w, 7, 2);
    expect(first.map((t) => t.id)).toEqual(ids.slice(0, 2));
    await noDelivery(w, 7);
    await complete(w, first[0]!);
    const [third] = await delivered(w, 7, 1);
    expect(third!.id).toBe(ids[2]!);
    await w.ok({ kind: "Nack", leases: [{ id: first[1]!.id!, token: first[1]!.token! }] }, "Ack");
    // The hand-back became ready last: it waits behind ids[3] and ids[4] (PROTOCOL.md, ClaimTask).
    const [again] = await delivered(w, 7, 1);
    expect(again!.id).toBe(ids[3]!);
    await producer.ok({ kind: "CancelTask", id: third!.id! }, "TaskInfo");
    const [fourth] = await delivered(w, 7, 1);
    expect(fourth!.id).toBe(ids[4]!);
    // A stale token gives nothing back.
    expect(await w.call({ kind: "TaskResult", id: third!.id!, token: third!.token!, outcome: "completed", resultIsJson: false, result: { utf8: "" }, error: "" })).toMatchObject({ kind: "Error", code: 10 });
    await noDelivery(w, 7);
    // Subscribe again with the same id: new credits, the tasks out count against them.
    await w.ok({ kind: "Subscribe", subscriptionId: 7, queues: ["cred"], credits: 3 }, "Ack");
    const [fifth] = await delivered(w, 7, 1);
    expect(fifth!.id).toBe(ids[1]!);
    w.close();
  });

  test("an expired lease gives its credit back", async () => {
    const w = await DocsClient.open(broker.port);
    await w.ok({ kind: "Subscribe", subscriptionId: 1, queues: ["exp"], credits: 1 }, "Ack");
    const a = await submit("exp", { leaseMs: 300 });
    const b = await submit("exp");
    const [t] = await delivered(w, 1, 1);
    expect(t!.id).toBe(a);
    const next = await delivered(w, 1, 1, 5000);
    // After the lease expired, either the same task (retried) or the next one comes.
    expect([a, b]).toContain(String(next[0]!.id));
    w.close();
  });

  test("Unsubscribe: Ack, then no Delivery for it; the tasks stay for others; an unknown id is NotFound", async () => {
    const w = await DocsClient.open(broker.port);
    await w.ok({ kind: "Subscribe", subscriptionId: 3, queues: ["unsub"], credits: 5 }, "Ack");
    expect((await w.call({ kind: "Unsubscribe", subscriptionId: 3 })).kind).toBe("Ack");
    const id = await submit("unsub");
    await noDelivery(w, 3);
    expect(await query(id)).toMatchObject({ status: "pending" });
    expect(await w.call({ kind: "Unsubscribe", subscriptionId: 3 })).toMatchObject({ kind: "Error", code: 8, field: "subscriptionId" });
    w.close();
  });

  test("credits 0 or 10001 and a 17th subscription are InvalidField; 10000 credits and 16 subscriptions are fine", async () => {
    const w = await DocsClient.open(broker.port);
    expect(await w.call({ kind: "Subscribe", subscriptionId: 1, queues: ["lim"], credits: 0 })).toMatchObject({ kind: "Error", code: 4, field: "credits" });
    expect(await w.call({ kind: "Subscribe", subscriptionId: 1, queues: ["lim"], credits: 10001 })).toMatchObject({ kind: "Error", code: 4, field: "credits" });
    expect(await w.call({ kind: "Subscribe", subscriptionId: 1, queues: ["a b"], credits: 1 })).toMatchObject({ kind: "Error", code: 4 });
    for (let i = 1; i <= 16; i++) await w.ok({ kind: "Subscribe", subscriptionId: i, queues: [`lim${i}`], credits: i === 1 ? 10000 : 1 }, "Ack");
    expect(await w.call({ kind: "Subscribe", subscriptionId: 17, queues: ["lim17"], credits: 1 })).toMatchObject({ kind: "Error", code: 4, field: "subscriptionId" });
    w.close();
  });

  test("a paused queue delivers nothing until resumed", async () => {
    expect((await rest("/api/v1/queues/paused-q/pause")).status).toBe(200);
    const w = await DocsClient.open(broker.port);
    await w.ok({ kind: "Subscribe", subscriptionId: 1, queues: ["paused-q"], credits: 5 }, "Ack");
    const id = await submit("paused-q");
    await noDelivery(w, 1);
    expect((await rest("/api/v1/queues/paused-q/resume")).status).toBe(200);
    expect((await delivered(w, 1, 1))[0]!.id).toBe(id);
    w.close();
  });

  test("one Delivery carries at most 1000 tasks", async () => {
    const w = await DocsClient.open(broker.port);
    await producer.ok({ kind: "SubmitBatch", tasks: Array.from({ length: 1500 }, () => spec("b", { queue: "many" })) }, "SubmittedBatch");
    await w.ok({ kind: "Subscribe", subscriptionId: 2, queues: ["many"], credits: 1500 }, "Ack");
    const got = await delivered(w, 2, 1500, 10_000);
    expect(got.length).toBe(1500);
    for (const d of w.frames.filter((f) => f.kind === "Delivery")) expect((d.tasks as Task[]).length).toBeLessThanOrEqual(1000);
    w.close();
  });
});

describe("Subscribe: the line, ending, frame size", () => {
  test("a claim parked before a subscription is served first; the subscription gets the next task", async () => {
    const b = await DocsClient.open(broker.port);
    const claimId = b.post({ kind: "ClaimTask", queues: ["line"], max: 1, waitMs: 10_000 });
    await b.ok({ kind: "Ping" }, "Pong");
    await Bun.sleep(50);
    const a = await DocsClient.open(broker.port);
    await a.ok({ kind: "Subscribe", subscriptionId: 1, queues: ["line"], credits: 5 }, "Ack");
    const t1 = await submit("line");
    expect(((await b.reply(claimId)).tasks as Task[]).map((t) => t.id)).toEqual([t1]);
    const t2 = await submit("line");
    expect((await delivered(a, 1, 1)).map((t) => t.id)).toEqual([t2]);
    a.close();
    b.close();
  });

  test("no Delivery follows the Unsubscribe's Ack; every task is either delivered or back in the queue", async () => {
    const a = await DocsClient.open(broker.port);
    await producer.ok({ kind: "SubmitBatch", tasks: Array.from({ length: 3000 }, () => spec("s", { queue: "stream" })) }, "SubmittedBatch", 20_000);
    await a.ok({ kind: "Subscribe", subscriptionId: 4, queues: ["stream"], credits: 100 }, "Ack");
    const first = await delivered(a, 4, 100);
    // Results give the 100 credits back and the Unsubscribe follows in the same breath: the broker
    // is taking tasks for the subscription while it reads the Unsubscribe.
    const resultsId = a.post({ kind: "TaskResultBatch", results: first.map((t) => ({ id: t.id!, token: t.token!, outcome: "completed", resultIsJson: false, result: { utf8: "" }, error: "" })) });
    const unsubId = a.post({ kind: "Unsubscribe", subscriptionId: 4 });
    await a.reply(resultsId);
    await a.reply(unsubId);
    await a.ok({ kind: "Ping" }, "Pong");
    await Bun.sleep(200);
    const ackAt = a.frames.findIndex((f) => f.requestId === unsubId && f.kind === "Ack");
    expect(a.frames.slice(ackAt).filter((f) => f.kind === "Delivery")).toEqual([]);
    const got = a.frames.filter((f) => f.kind === "Delivery").flatMap((f) => (f.tasks as Task[]).map((t) => String(t.id)));
    expect(new Set(got).size).toBe(got.length);
    const q = ((await stats(producer)).tasks as { queues: Record<string, unknown>[] }).queues.find((x) => x.queue === "stream")!;
    const pending = q.pending as { high: number; normal: number; low: number };
    expect(q.inProgress).toBe(got.length - 100);
    expect(pending.high + pending.normal + pending.low).toBe(3000 - got.length);
    a.close();
  }, 30_000);

  test("DeregisterWorker ends the worker's subscriptions", async () => {
    const a = await DocsClient.open(broker.port);
    await a.ok({ kind: "RegisterWorker", workerId: "dereg-sub", hostname: "h", pid: 1, queues: ["dsub"], concurrency: 1, version: "1", labels: [] }, "Registered");
    await a.ok({ kind: "Subscribe", subscriptionId: 1, queues: ["dsub"], credits: 5 }, "Ack");
    await a.ok({ kind: "DeregisterWorker", workerId: "dereg-sub" }, "Ack");
    const id = await submit("dsub");
    await noDelivery(a, 1);
    expect(await query(id)).toMatchObject({ status: "pending" });
    a.close();
  });

  test("Delivery and Claimed never pass the frame limit: two 9 MiB tasks come in two frames", async () => {
    const nine = { hex: Buffer.alloc(9 * 1024 * 1024, 7).toString("hex") };
    await submit("huge", { payload: nine });
    await submit("huge", { payload: nine });
    const a = await DocsClient.open(broker.port);
    await a.ok({ kind: "Subscribe", subscriptionId: 9, queues: ["huge"], credits: 5 }, "Ack");
    const got = await delivered(a, 9, 2, 20_000);
    expect(got.length).toBe(2);
    expect(a.frames.filter((f) => f.kind === "Delivery" && f.subscriptionId === 9).length).toBe(2);
    a.close();
    await submit("huge2", { payload: nine });
    await submit("huge2", { payload: nine });
    const c = await DocsClient.open(broker.port);
    const first = (await c.ok({ kind: "ClaimTask", queues: ["huge2"], max: 2, waitMs: 0 }, "Claimed", 20_000)).tasks as Task[];
    expect(first.length).toBe(1);
    const second = (await c.ok({ kind: "ClaimTask", queues: ["huge2"], max: 2, waitMs: 0 }, "Claimed", 20_000)).tasks as Task[];
    expect(second.length).toBe(1);
    c.close();
  }, 60_000);
});

describe("Subscribe: backpressure", () => {
  test("a client that does not read gets no more Deliveries past its buffer; once it reads, the rest comes", async () => {
    const mb = { hex: Buffer.alloc(1024 * 1024, 3).toString("hex") };
    for (let i = 0; i < 4; i++) await producer.ok({ kind: "SubmitBatch", tasks: Array.from({ length: 10 }, () => spec("bp", { queue: "bp", payload: mb })) }, "SubmittedBatch", 30_000);
    const a = await DocsClient.open(broker.port);
    await a.ok({ kind: "Subscribe", subscriptionId: 1, queues: ["bp"], credits: 40 }, "Ack");
    a.pause();
    await Bun.sleep(1000);
    const q = ((await stats(producer)).tasks as { queues: Record<string, unknown>[] }).queues.find((x) => x.queue === "bp")!;
    const pending = q.pending as { normal: number };
    expect(pending.normal).toBeGreaterThan(0); // not everything was pushed at a client that reads nothing
    a.resume();
    const got = await delivered(a, 1, 40, 30_000);
    expect(got.length).toBe(40);
    a.close();
  }, 60_000);
});

describe("EnableNotices and TaskCancelled", () => {
  test("a running task's cancel is pushed as TaskCancelled (id 0, its id and token); its report is then LeaseLost", async () => {
    const w = await DocsClient.open(broker.port);
    await w.ok({ kind: "RegisterWorker", workerId: "nw", hostname: "h", pid: 1, queues: ["nq"], concurrency: 1, version: "1", labels: [] }, "Registered");
    w.send(bytesOfHex("00000006 14 00000015 01")); // the doc's EnableNotices bytes
    expect((await w.reply(21)).kind).toBe("Ack");
    const id = await submit("nq");
    const [t] = (await w.ok({ kind: "ClaimTask", queues: ["nq"], max: 1, waitMs: 0 }, "Claimed")).tasks as Task[];
    const info = (await producer.ok({ kind: "CancelTask", id }, "TaskInfo")).task as Task;
    expect(info).toMatchObject({ status: "cancelled", workerId: "nw", attempts: 0 });
    const n = await w.pushed("TaskCancelled");
    expect(n).toMatchObject({ requestId: 0, id, token: t!.token! });
    expect(await w.call({ kind: "TaskResult", id, token: t!.token!, outcome: "completed", resultIsJson: false, result: { utf8: "" }, error: "" })).toMatchObject({ kind: "Error", code: 10 });
    // A cancel through the REST API is pushed too.
    const id2 = await submit("nq");
    const [t2] = (await w.ok({ kind: "ClaimTask", queues: ["nq"], max: 1, waitMs: 0 }, "Claimed")).tasks as Task[];
    expect((await rest(`/api/v1/tasks/${id2}`, "DELETE")).status).toBe(200);
    expect(await w.pushed("TaskCancelled")).toMatchObject({ id: id2, token: t2!.token! });
    w.close();
  });

  test("without EnableNotices nothing is pushed: the next Heartbeat renews the lease as 0", async () => {
    const w = await DocsClient.open(broker.port);
    await w.ok({ kind: "RegisterWorker", workerId: "quietnotice", hostname: "h", pid: 1, queues: ["nq2"], concurrency: 1, version: "1", labels: [] }, "Registered");
    const id = await submit("nq2");
    const [t] = (await w.ok({ kind: "ClaimTask", queues: ["nq2"], max: 1, waitMs: 0 }, "Claimed")).tasks as Task[];
    await producer.ok({ kind: "CancelTask", id }, "TaskInfo");
    await Bun.sleep(300);
    expect(w.pending("TaskCancelled")).toEqual([]);
    const hb = await w.ok({ kind: "Heartbeat", workerId: "quietnotice", cpuPercent: 1, memoryMb: 1, inFlight: [{ id, token: t!.token! }] }, "HeartbeatOk");
    expect(hb.renewed).toEqual([null]);
    w.close();
  });

  test("bits other than 0x01 are InvalidField notices; 0 turns them off", async () => {
    const w = await DocsClient.open(broker.port);
    expect(await w.call({ kind: "EnableNotices", notices: 2 })).toMatchObject({ kind: "Error", code: 4, field: "notices" });
    expect((await w.call({ kind: "EnableNotices", notices: 0 })).kind).toBe("Ack");
    w.close();
  });
});

describe("worker commands", () => {
  test("quiet: HeartbeatOk command 1, and the worker's claims and subscriptions get nothing; shutdown: command 2", async () => {
    const w = await DocsClient.open(broker.port);
    await w.ok({ kind: "RegisterWorker", workerId: "qw", hostname: "h", pid: 1, queues: ["cmdq"], concurrency: 1, version: "1", labels: [] }, "Registered");
    const r = await rest("/api/v1/workers/qw/quiet");
    expect(r.status).toBe(200);
    expect(((await r.json()) as { command: string }).command).toBe("quiet");
    const id = await submit("cmdq");
    const t0 = Date.now();
    expect((await w.ok({ kind: "ClaimTask", queues: ["cmdq"], max: 1, waitMs: 300 }, "Claimed")).tasks).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    await w.ok({ kind: "Subscribe", subscriptionId: 1, queues: ["cmdq"], credits: 2 }, "Ack");
    await noDelivery(w, 1);
    expect((await w.ok({ kind: "Heartbeat", workerId: "qw", cpuPercent: 0, memoryMb: 0, inFlight: [] }, "HeartbeatOk")).command).toBe("quiet");
    const workers = JSON.parse(String((await w.ok({ kind: "ListWorkers" }, "Workers")).json)) as Record<string, unknown>[];
    expect(workers.find((x) => x.id === "qw")).toMatchObject({ status: "quiet", command: 1 });
    expect((await rest("/api/v1/workers/qw/shutdown")).status).toBe(200);
    expect((await w.ok({ kind: "Heartbeat", workerId: "qw", cpuPercent: 0, memoryMb: 0, inFlight: [] }, "HeartbeatOk")).command).toBe("shutdown");
    expect(await query(id)).toMatchObject({ status: "pending" });
    w.close();
  });
});
