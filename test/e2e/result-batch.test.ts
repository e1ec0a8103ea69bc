// TaskResultBatch over a real socket against a real broker: each item is settled as a TaskResult
// alone would be (statuses, totals, metrics), a stale or unknown item fails only itself, auth is
// TaskResult's, a malformed batch is one error frame, and the SDK Worker reports through batches.
// Stale tokens come from a Nack and a re-claim, not from waiting for a lease to run out.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { Client, LeaseLostError, Worker } from "../../src/index.ts";
import { UnknownMessageTypeError } from "../../src/client/tq-error.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import type { RequestOf, Response, TaskResultItem } from "../../src/protocol/messages.ts";
import { encodeRequest } from "../../src/protocol/frame-writer.ts";
import { uuidv7 } from "../../src/protocol/uuid.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, expectKind, spec, stats, status, submit } from "../helpers/wire.ts";

const KEYS = { admin: "rb-admin-key-0123456789abcdef", producer: "rb-producer-key-0123456789abcdef", worker: "rb-worker-key-0123456789abcdef" };
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

let broker: TestBroker;
let authBroker: TestBroker;

beforeAll(async () => {
  broker = await startBroker({ "broker.max_batch_claim": 100, "broker.retry_base_delay_ms": 50, "broker.retry_jitter": 0 });
  authBroker = await startBroker({
    "auth.enabled": true,
    "auth.api_keys": [
      { name: "ops", role: "admin", key: KEYS.admin },
      { name: "shop", role: "producer", key_sha256: createHash("sha256").update(KEYS.producer).digest("hex") },
      { name: "runner", role: "worker", key: KEYS.worker },
    ],
  });
});

afterAll(async () => {
  await broker.stop();
  await authBroker.stop();
});

function completed(t: { id: string; token: number }, result = "done"): TaskResultItem {
  return { id: t.id, token: t.token, outcome: "completed", resultIsJson: false, result: text(result), error: "" };
}

function batch(conn: RawConn, results: TaskResultItem[]): Promise<Response> {
  return conn.call({ kind: "TaskResultBatch", results });
}

async function metric(name: string, outcome: string): Promise<number> {
  const body = await (await fetch(`http://127.0.0.1:${broker.metricsPort}/metrics`)).text();
  const line = body.split("\n").find((l) => l.startsWith(`${name}{outcome="${outcome}"}`));
  return line === undefined ? 0 : Number(line.split(" ").pop());
}

async function protocolErrors(code: string): Promise<number> {
  const body = await (await fetch(`http://127.0.0.1:${broker.metricsPort}/metrics`)).text();
  const line = body.split("\n").find((l) => l.startsWith(`tq_protocol_errors_total{front_door="tcp",code="${code}"}`));
  return line === undefined ? 0 : Number(line.split(" ").pop());
}

describe("TaskResultBatch", () => {
  test("completions and failures in one batch are acknowledged per item, each as a TaskResult would be", async () => {
    const conn = await RawConn.connect(broker.port);
    const ids = [];
    for (const type of ["a", "b", "c", "d"]) ids.push(await submit(conn, spec(type, { queue: "rb-mixed", maxRetries: 3 })));
    const tasks = await claim(conn, { queues: ["rb-mixed"], max: 4 });
    expect(tasks.map((t) => t.id).sort()).toEqual([...ids].sort());
    const byType = new Map(tasks.map((t) => [t.type, t]));
    const before = (await stats(conn)).totals;
    const metricsBefore = { completed: await metric("tq_tasks_total", "completed"), failed: await metric("tq_tasks_total", "failed"), dead: await metric("tq_tasks_total", "dead") };

    const res = expectKind(
      await batch(conn, [
        { ...completed(byType.get("a")!), resultIsJson: true, result: text('{"n":1}') },
        { id: byType.get("b")!.id, token: byType.get("b")!.token, outcome: "completed", resultIsJson: false, result: new Uint8Array(0), error: "" },
        { id: byType.get("c")!.id, token: byType.get("c")!.token, outcome: "failed", resultIsJson: false, result: new Uint8Array(0), error: "flaky" },
        { id: byType.get("d")!.id, token: byType.get("d")!.token, outcome: "unrecoverable", resultIsJson: false, result: new Uint8Array(0), error: "bad input" },
      ]),
      "ResultBatchOutcome",
    );
    expect(res.entries[0]).toEqual({ entry: "ok" });
    expect(res.entries[1]).toEqual({ entry: "ok" });
    expect(res.entries[2]).toMatchObject({ entry: "fail", status: "failed", attempts: 1 });
    expect(res.entries[2]!.entry === "fail" && res.entries[2]!.retryAtMs).toBeGreaterThan(0);
    expect(res.entries[3]).toEqual({ entry: "fail", status: "dead", retryAtMs: null, attempts: 1 });
    expect(res.entries).toHaveLength(4);

    const a = await status(conn, byType.get("a")!.id);
    expect(a.status).toBe("completed");
    expect(a.resultIsJson).toBe(true);
    expect(new TextDecoder().decode(a.result!)).toBe('{"n":1}');
    expect((await status(conn, byType.get("b")!.id)).result).toBeNull();
    expect((await status(conn, byType.get("c")!.id)).error).toBe("flaky");
    expect((await status(conn, byType.get("d")!.id)).status).toBe("dead");

    const after = (await stats(conn)).totals;
    expect(after.completed - before.completed).toBe(2);
    expect(after.failed - before.failed).toBe(1);
    expect(after.dead - before.dead).toBe(1);
    expect((await metric("tq_tasks_total", "completed")) - metricsBefore.completed).toBe(2);
    expect((await metric("tq_tasks_total", "failed")) - metricsBefore.failed).toBe(1);
    expect((await metric("tq_tasks_total", "dead")) - metricsBefore.dead).toBe(1);
    conn.close();
  });

  test("a valid and a stale token in one batch: the valid one completes, the stale one gets LeaseLost, nothing else changes", async () => {
    const conn = await RawConn.connect(broker.port);
    const idA = await submit(conn, spec("a", { queue: "rb-stale" }));
    const idB = await submit(conn, spec("b", { queue: "rb-stale" }));
    const [first, second] = await claim(conn, { queues: ["rb-stale"], max: 2 });
    const a = first!.id === idA ? first! : second!;
    const oldB = first!.id === idB ? first! : second!;
    expectKind(await conn.call({ kind: "Nack", leases: [{ id: oldB.id, token: oldB.token }] }), "Ack");
    const [newB] = await claim(conn, { queues: ["rb-stale"], max: 1 });
    expect(newB!.id).toBe(idB);
    expect(newB!.token).not.toBe(oldB.token);
    const before = (await stats(conn)).totals;

    const res = expectKind(await batch(conn, [completed(a), completed(oldB, "stale")]), "ResultBatchOutcome");
    expect(res.entries[0]).toEqual({ entry: "ok" });
    const stale = res.entries[1]!;
    expect(stale.entry).toBe("error");
    if (stale.entry === "error") {
      expect(stale.code).toBe(ErrorCode.LeaseLost);
      expect(stale.message).toContain(idB);
    }

    expect((await status(conn, idA)).status).toBe("completed");
    const b = await status(conn, idB);
    expect(b.status).toBe("in_progress");
    expect(b.result).toBeNull();
    const after = (await stats(conn)).totals;
    expect(after.completed - before.completed).toBe(1);
    expect(after.failed).toBe(before.failed);
    // The current holder's lease was not touched: its own result still lands.
    expect(expectKind(await batch(conn, [completed(newB!)]), "ResultBatchOutcome").entries).toEqual([{ entry: "ok" }]);
    expect((await status(conn, idB)).status).toBe("completed");
    conn.close();
  });

  test("an unknown id is a NotFound item; the same task twice is one completion and one LeaseLost", async () => {
    const conn = await RawConn.connect(broker.port);
    const id = await submit(conn, spec("x", { queue: "rb-unknown" }));
    const [task] = await claim(conn, { queues: ["rb-unknown"], max: 1 });
    const unknown = uuidv7();
    const errorsBefore = { notFound: await protocolErrors("NotFound"), leaseLost: await protocolErrors("LeaseLost") };
    const res = expectKind(await batch(conn, [completed({ id: unknown, token: 1 }), completed(task!), completed(task!)]), "ResultBatchOutcome");
    // Per-item errors count in tq_protocol_errors_total like a TaskResult's error frame would.
    expect((await protocolErrors("NotFound")) - errorsBefore.notFound).toBe(1);
    expect((await protocolErrors("LeaseLost")) - errorsBefore.leaseLost).toBe(1);
    expect(res.entries[0]).toMatchObject({ entry: "error", code: ErrorCode.NotFound, field: "id" });
    expect(res.entries[1]).toEqual({ entry: "ok" });
    expect(res.entries[2]).toMatchObject({ entry: "error", code: ErrorCode.LeaseLost });
    expect((await status(conn, id)).status).toBe("completed");
    conn.close();
  });

  test("a malformed batch is one Error frame, nothing in it takes effect, and the connection stays usable", async () => {
    const conn = await RawConn.connect(broker.port);
    const id = await submit(conn, spec("m", { queue: "rb-malformed" }));
    const [task] = await claim(conn, { queues: ["rb-malformed"], max: 1 });
    const empty = expectKind(await batch(conn, []), "Error");
    expect(empty.code).toBe(ErrorCode.InvalidField);
    expect(empty.field).toBe("results");
    // A good first item and a second one cut short: the whole frame is refused.
    const good = { kind: "TaskResultBatch", requestId: 4242, results: [completed(task!)] } satisfies RequestOf<"TaskResultBatch">;
    const frame = encodeRequest(good).slice();
    // Bytes 9-10 are the count (length 4, type 1, request id 4): announce 2 items, send 1.
    new DataView(frame.buffer, frame.byteOffset).setUint16(9, 2);
    conn.sendBytes(frame);
    const truncated = expectKind(await conn.waitFor((r) => r.requestId === 4242), "Error");
    expect(truncated.code).toBe(ErrorCode.InvalidField);
    expect(truncated.field).toMatch(/^results/);
    expect((await status(conn, id)).status).toBe("in_progress");
    expectKind(await conn.call({ kind: "Ping" }), "Pong");
    expect(expectKind(await batch(conn, [completed(task!)]), "ResultBatchOutcome").entries).toEqual([{ entry: "ok" }]);
    conn.close();
  });
});

describe("TaskResultBatch auth", () => {
  async function login(key: string): Promise<RawConn> {
    const conn = await RawConn.connect(authBroker.port);
    expectKind(await conn.call({ kind: "Hello", version: 1, apiKey: key, clientName: "test" }), "HelloOk");
    return conn;
  }

  test("before Hello it is Unauthorized, for a producer Forbidden, for a worker it runs; refusals change nothing", async () => {
    const producer = await login(KEYS.producer);
    const workerConn = await login(KEYS.worker);
    const id = await submit(producer, spec("guarded", { queue: "rb-auth" }));
    const [task] = await claim(workerConn, { queues: ["rb-auth"], max: 1 });

    const anonymous = await RawConn.connect(authBroker.port);
    expect(expectKind(await batch(anonymous, [completed(task!)]), "Error").code).toBe(ErrorCode.Unauthorized);
    expect(expectKind(await batch(producer, [completed(task!)]), "Error").code).toBe(ErrorCode.Forbidden);
    expect((await status(producer, id)).status).toBe("in_progress");

    expect(expectKind(await batch(workerConn, [completed(task!)]), "ResultBatchOutcome").entries).toEqual([{ entry: "ok" }]);
    expect((await status(producer, id)).status).toBe("completed");
    for (const c of [anonymous, producer, workerConn]) c.close();
  });
});

describe("the SDK Worker reports through batches", () => {
  test("many tasks run concurrently end completed exactly once, in fewer result frames than tasks", async () => {
    const url = `tq://127.0.0.1:${broker.port}`;
    const client = new Client({ url, env: {} });
    const n = 300;
    const ids = (await client.submitMany(Array.from({ length: n }, (_, i) => ({ type: "noop", queue: "rb-sdk", payload: { i } })))).map((s) => s.id);
    const worker = new Worker({ url, env: {}, handleSignals: false, queues: ["rb-sdk"], concurrency: 100 });
    const runs = new Map<string, number>();
    const completedEvents = new Map<string, number>();
    const errors: unknown[] = [];
    worker.on("error", (err) => errors.push(err));
    worker.on("completed", (task: { id: string }) => completedEvents.set(task.id, (completedEvents.get(task.id) ?? 0) + 1));
    worker.register("noop", (task) => {
      runs.set(task.id, (runs.get(task.id) ?? 0) + 1);
      return { ok: task.id };
    });
    let frames = 0;
    let items = 0;
    const request = worker.client.request.bind(worker.client);
    worker.client.request = (body, options) => {
      if (body.kind === "TaskResultBatch") {
        frames++;
        items += body.results.length;
      }
      if (body.kind === "TaskResult") throw new Error("the Worker should report through TaskResultBatch");
      return request(body, options);
    };
    let allDone!: () => void;
    const done = new Promise<void>((resolve) => (allDone = resolve));
    worker.on("completed", () => {
      if (completedEvents.size === n) allDone();
    });
    await worker.start();
    try {
      await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error("not all completed in 20 s")), 20_000))]);
    } finally {
      await worker.stop();
    }
    expect(errors).toEqual([]);
    for (const id of ids) {
      expect(runs.get(id)).toBe(1);
      expect(completedEvents.get(id)).toBe(1);
    }
    const admin = await RawConn.connect(broker.port);
    for (const id of ids) expect((await status(admin, id)).status).toBe("completed");
    admin.close();
    expect(items).toBe(n);
    expect(frames).toBeLessThan(n);
    await client.close();
  });

  test("an item refused with LeaseLost reaches the worker's error event; the other items of its batch complete", async () => {
    const url = `tq://127.0.0.1:${broker.port}`;
    const client = new Client({ url, env: {} });
    const ids = (await client.submitMany(Array.from({ length: 5 }, () => ({ type: "noop", queue: "rb-sdk-lost" })))).map((s) => s.id);
    const victim = ids[2]!;
    const worker = new Worker({ url, env: {}, handleSignals: false, queues: ["rb-sdk-lost"], concurrency: 10 });
    const errors: unknown[] = [];
    const completedIds: string[] = [];
    worker.on("error", (err) => errors.push(err));
    worker.on("completed", (task: { id: string }) => completedIds.push(task.id));
    worker.register("noop", () => "ok");
    // The victim's report carries a token the broker never issued, as a stale lease would.
    const send = worker.sendResult.bind(worker);
    worker.sendResult = (item) => send(item.id === victim ? { ...item, token: (item.token + 1_000_000) >>> 0 } : item);
    let settled = 0;
    let allSettled!: () => void;
    const done = new Promise<void>((resolve) => (allSettled = resolve));
    const tick = (): void => {
      if (++settled === ids.length) allSettled();
    };
    worker.on("completed", tick);
    worker.on("error", tick);
    await worker.start();
    try {
      await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error("not all settled in 10 s")), 10_000))]);
    } finally {
      await worker.stop({ timeoutMs: 0 });
    }
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(LeaseLostError);
    expect(String((errors[0] as Error).message)).toContain(victim);
    expect(completedIds.sort()).toEqual(ids.filter((id) => id !== victim).sort());
    for (const id of ids) {
      const { status: now } = await client.status(id);
      if (id === victim) expect(now).not.toBe("completed");
      else expect(now).toBe("completed");
    }
    await client.close();
  });

  test("against a broker that does not know TaskResultBatch, results go one TaskResult each", async () => {
    const url = `tq://127.0.0.1:${broker.port}`;
    const client = new Client({ url, env: {} });
    const n = 20;
    const ids = (await client.submitMany(Array.from({ length: n }, (_, i) => ({ type: i % 2 === 0 ? "ok" : "bad", queue: "rb-old", maxRetries: 0 })))).map((s) => s.id);
    const worker = new Worker({ url, env: {}, handleSignals: false, queues: ["rb-old"], concurrency: n });
    const errors: unknown[] = [];
    const outcomes = new Map<string, string>();
    worker.on("error", (err) => errors.push(err));
    worker.register("ok", () => "fine");
    worker.register("bad", () => {
      throw new Error("nope");
    });
    let batches = 0;
    let singles = 0;
    const request = worker.client.request.bind(worker.client);
    worker.client.request = (body, options) => {
      // What a broker from before 0x13 answers; it leaves the connection usable and changes nothing.
      if (body.kind === "TaskResultBatch") {
        batches++;
        return Promise.reject(new UnknownMessageTypeError(ErrorCode.UnknownMessageType, "message type 0x13 (unknown) is not a request"));
      }
      if (body.kind === "TaskResult") singles++;
      return request(body, options);
    };
    let allDone!: () => void;
    const done = new Promise<void>((resolve) => (allDone = resolve));
    const note = (id: string, what: string): void => {
      outcomes.set(id, what);
      if (outcomes.size === n) allDone();
    };
    worker.on("completed", (task: { id: string }) => note(task.id, "completed"));
    worker.on("failed", (task: { id: string }, _err: unknown, outcome: { status: string }) => note(task.id, outcome.status));
    await worker.start();
    try {
      await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error("not all reported in 10 s")), 10_000))]);
    } finally {
      await worker.stop();
    }
    expect(errors).toEqual([]);
    expect(batches).toBe(1);
    expect(singles).toBe(n);
    ids.forEach((id, i) => expect(outcomes.get(id)).toBe(i % 2 === 0 ? "completed" : "dead"));
    await client.close();
  });
});
