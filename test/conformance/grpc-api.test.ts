// docs/grpc.md and proto/tq/v1/broker.proto against a live broker, with a client built the way the
// doc's TypeScript example builds it (grpc-js + proto-loader, no code generation): server info,
// submits, the error trailers, the worker stream (start, credits, reports, cancel, goodbye).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { resolve } from "node:path";
import { startBroker, type TestBroker } from "../helpers/broker.ts";

const PROTO = resolve(import.meta.dir, "../../proto");
// The options of docs/grpc.md's example.
const def = loadSync(["tq/v1/broker.proto", "grpc/health/v1/health.proto"], { includeDirs: [PROTO], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
const pkg = grpc.loadPackageDefinition(def) as any;
type M = Record<string, any>;
const CHANNEL = { "grpc.use_local_subchannel_pool": 1 };

let broker: TestBroker;
let client: M;
beforeAll(async () => {
  broker = await startBroker();
  client = new pkg.tq.v1.Broker(`127.0.0.1:${broker.grpcPort}`, grpc.credentials.createInsecure(), CHANNEL);
});
afterAll(async () => {
  client.close();
  await broker.stop();
});

function unary(method: string, req: M, c: M = client, md = new grpc.Metadata()): Promise<M> {
  return new Promise((res, rej) => c[method](req, md, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, r: M) => (err ? rej(err) : res(r))));
}
async function failure(p: Promise<M>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error("the call succeeded");
}

describe("unary calls", () => {
  test("GetServerInfo states the limits; auth off is the anonymous admin", async () => {
    const info = await unary("GetServerInfo", {});
    expect(info).toMatchObject({ protocol_version: 1, max_message_bytes: 16777216, max_batch_claim: 10, heartbeat_interval_ms: 15000, default_lease_ms: 30000, key_name: "anonymous", role: "admin" });
  });

  test("the health service answers SERVING", async () => {
    const health = new pkg.grpc.health.v1.Health(`127.0.0.1:${broker.grpcPort}`, grpc.credentials.createInsecure(), CHANNEL);
    expect((await unary("Check", { service: "" }, health)).status).toBe("SERVING");
    health.close();
  });

  test("Submit: the grpcurl example's task, a tier by name, delay_ms; GetTask reads them", async () => {
    const s = await unary("Submit", { task: { type: "email.send", payload: Buffer.from('{"to":"a@b.c"}'), payload_is_json: true } });
    expect(s).toMatchObject({ status: "TASK_STATUS_PENDING", duplicate: false });
    expect(await unary("GetTask", { id: s.id })).toMatchObject({ queue: "default", priority: 150, payload_is_json: true, run_at_ms: 0 });
    const high = await unary("Submit", { task: { type: "t", queue: "g", tier: "TIER_HIGH" } });
    expect((await unary("GetTask", { id: high.id })).priority).toBe(255);
    const low = await unary("Submit", { task: { type: "t", queue: "g", tier: "TIER_LOW" } });
    expect((await unary("GetTask", { id: low.id })).priority).toBe(50);
    const later = await unary("Submit", { task: { type: "t", queue: "g", delay_ms: 60_000 } });
    expect(later.status).toBe("TASK_STATUS_SCHEDULED");
  });

  test("errors carry the table's code, name and field in trailers, with the documented status", async () => {
    const bad = await failure(unary("Submit", { task: { type: "t", queue: "a b" } }));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.metadata.get("tq-error-code")).toEqual(["4"]);
    expect(bad.metadata.get("tq-error-name")).toEqual(["InvalidField"]);
    expect(String(bad.metadata.get("tq-error-field")[0])).toContain("queue");
    const nf = await failure(unary("GetTask", { id: "01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90" }));
    expect(nf.code).toBe(grpc.status.NOT_FOUND);
    expect(nf.metadata.get("tq-error-code")).toEqual(["8"]);
    const s = await unary("Submit", { task: { type: "t", queue: "gc" } });
    await unary("CancelTask", { id: s.id });
    const again = await failure(unary("CancelTask", { id: s.id }));
    expect(again.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(again.metadata.get("tq-error-name")).toEqual(["InvalidState"]);
    const batchErr = await failure(unary("SubmitBatch", { tasks: [{ type: "a" }, { type: "b", priority: 300 }] }));
    expect(batchErr.metadata.get("tq-error-field")).toEqual(["tasks[1].priority"]);
  });

  test("ListTasks: limit 0 means 100; next_cursor empty on the last page", async () => {
    await unary("SubmitBatch", { tasks: Array.from({ length: 120 }, () => ({ type: "l", queue: "glist" })) });
    const page = await unary("ListTasks", { queue: "glist", limit: 0 });
    expect(page.tasks.length).toBe(100);
    expect(page.next_cursor).not.toBe("");
    const rest = await unary("ListTasks", { queue: "glist", limit: 0, cursor: page.next_cursor });
    expect(rest.tasks.length).toBe(20);
    expect(rest.next_cursor).toBe("");
  });
});

/** The worker stream as a queue of messages. */
function workStream(): { call: M; next: (kind: string, timeoutMs?: number) => Promise<M>; ended: Promise<grpc.StatusObject> } {
  const call = client.Work(new grpc.Metadata());
  const inbox: M[] = [];
  let wake: (() => void) | null = null;
  call.on("data", (m: M) => { inbox.push(m); wake?.(); });
  call.on("error", () => {});
  const ended = new Promise<grpc.StatusObject>((r) => call.on("status", r));
  async function next(kind: string, timeoutMs = 5000): Promise<M> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = inbox.findIndex((m) => m.kind === kind);
      if (at >= 0) return inbox.splice(at, 1)[0]!;
      if (Date.now() > deadline) throw new Error(`no ${kind} within ${timeoutMs} ms`);
      await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
    }
  }
  return { call, next, ended };
}

describe("the Work stream", () => {
  test("start, tasks within concurrency, report acks, a cancelled push, heartbeat, goodbye hands back", async () => {
    const w = workStream();
    w.call.write({ start: { worker_id: "gw-1", queues: ["gwork"], concurrency: 2 } });
    expect((await w.next("started")).started).toMatchObject({ heartbeat_interval_ms: 15000, default_lease_ms: 30000 });
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await unary("Submit", { task: { type: "w", queue: "gwork" } })).id);
    const got: M[] = [];
    while (got.length < 2) got.push(...(await w.next("tasks")).tasks.tasks);
    expect(got.map((t) => t.id)).toEqual(ids.slice(0, 2));
    await Bun.sleep(300);
    w.call.write({ report: { ref: 7, results: [{ id: got[0]!.id, token: got[0]!.token, outcome: "OUTCOME_COMPLETED" }] } });
    const ack = (await w.next("report_ack")).report_ack;
    expect(ack.ref).toBe(7);
    expect(ack.entries.map((e: M) => e.entry)).toEqual(["ok"]);
    const third = (await w.next("tasks")).tasks.tasks;
    expect(third.map((t: M) => t.id)).toEqual([ids[2]]);
    await unary("CancelTask", { id: ids[2] });
    expect((await w.next("cancelled")).cancelled).toMatchObject({ id: ids[2], token: third[0].token });
    const fourth = (await w.next("tasks")).tasks.tasks;
    expect(fourth.map((t: M) => t.id)).toEqual([ids[3]]);
    w.call.write({ heartbeat: { ref: 9, cpu_percent: 1, memory_mb: 2, in_flight: [{ id: got[1]!.id, token: got[1]!.token }] } });
    const hb = (await w.next("heartbeat_ack")).heartbeat_ack;
    expect(hb).toMatchObject({ ref: 9, command: "WORKER_COMMAND_NONE" });
    expect(hb.renewed[0]).toBeGreaterThan(Date.now());
    // Goodbye: half-close; unfinished tasks go back at once, not as attempts; the stream ends OK.
    w.call.end();
    const status = await w.ended;
    expect(status.code).toBe(grpc.status.OK);
    for (const id of [got[1]!.id, ids[3]]) expect(await unary("GetTask", { id })).toMatchObject({ status: "TASK_STATUS_PENDING", attempts: 0 });
  });

  test("credits out of 1-10000 end the stream with INVALID_ARGUMENT", async () => {
    const w = workStream();
    w.call.write({ start: { worker_id: "gw-credits", queues: ["gcred"], concurrency: 1 } });
    await w.next("started");
    w.call.write({ credits: { concurrency: 10001 } });
    expect((await w.ended).code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  test("a first message that is not start ends the stream with INVALID_ARGUMENT", async () => {
    const w = workStream();
    w.call.write({ heartbeat: { ref: 1 } });
    const status = await w.ended;
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe("auth on", () => {
  test("no key is UNAUTHENTICATED; a producer key may not Claim (PERMISSION_DENIED)", async () => {
    const b = await startBroker({ "auth.enabled": true, "auth.api_keys": [{ name: "shop", role: "producer", key: "prod-key-0000001" }] });
    const c = new pkg.tq.v1.Broker(`127.0.0.1:${b.grpcPort}`, grpc.credentials.createInsecure(), CHANNEL);
    const none = await failure(unary("GetServerInfo", {}, c));
    expect(none.code).toBe(grpc.status.UNAUTHENTICATED);
    const md = new grpc.Metadata();
    md.set("authorization", "Bearer prod-key-0000001");
    expect(await unary("GetServerInfo", {}, c, md)).toMatchObject({ key_name: "shop", role: "producer" });
    const claim = await failure(unary("Claim", { queues: [], max: 1, wait_ms: 0 }, c, md));
    expect(claim.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(claim.metadata.get("tq-error-code")).toEqual(["7"]);
    c.close();
    await b.stop();
  });
});

describe("QueueFull", () => {
  test("RESOURCE_EXHAUSTED with tq-retry-after-ms 1000", async () => {
    const b = await startBroker({ "broker.queue_depth_threshold": 1 });
    const c = new pkg.tq.v1.Broker(`127.0.0.1:${b.grpcPort}`, grpc.credentials.createInsecure(), CHANNEL);
    await unary("Submit", { task: { type: "t" } }, c);
    const full = await failure(unary("Submit", { task: { type: "t" } }, c));
    expect(full.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(full.metadata.get("tq-error-code")).toEqual(["11"]);
    expect(full.metadata.get("tq-retry-after-ms")).toEqual(["1000"]);
    c.close();
    await b.stop();
  });
});
