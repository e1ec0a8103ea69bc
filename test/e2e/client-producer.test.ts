// The Client against a real broker over a real socket: submit/status/result round trip,
// submitMany, cancel/retry/list/stats, and a typed error for every code the broker answers with
// in normal use. The broker runs on a FakeClock (its waits end when the test advances it).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  Client,
  InvalidFieldError,
  InvalidStateError,
  NotFoundError,
  QueueFullError,
  TaskFailedError,
  TimeoutError,
  TqError,
  UnauthorizedError,
  Worker,
} from "../../src/index.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { FakeClock } from "../helpers/fake-clock.ts";

const clock = new FakeClock(Date.now());
let broker: TestBroker;
let client: Client;

beforeAll(async () => {
  broker = await startBroker({ "broker.retry_base_delay_ms": 10, "broker.retry_jitter": 0 }, undefined, { clock });
  client = new Client({ url: `tq://127.0.0.1:${broker.port}`, env: {} });
});

afterAll(async () => {
  await client.close();
  await broker.stop();
});

describe("Client round trips", () => {
  test("submit, status, then a worker completes it and result() returns the parsed JSON", async () => {
    const sent = await client.submit("math.add", { a: 2, b: 3 }, { queue: "rt", priority: "high", maxRetries: 2 });
    expect(sent.duplicate).toBe(false);
    const task = await client.status(sent.id);
    expect(task.status).toBe("pending");
    expect(task.priority).toBe(255);
    expect(task.maxRetries).toBe(2);
    expect(task.payload).toEqual({ a: 2, b: 3 });

    const worker = new Worker({ url: `tq://127.0.0.1:${broker.port}`, env: {}, queues: ["rt"], handleSignals: false });
    worker.register<{ a: number; b: number }>("math.add", (t) => ({ sum: t.payload.a + t.payload.b }));
    await worker.start();
    try {
      expect(await client.result(sent.id, { wait: 5000 })).toEqual({ sum: 5 });
      expect((await client.status(sent.id)).status).toBe("completed");
    } finally {
      await worker.stop();
    }
  });

  test("bytes stay bytes both ways", async () => {
    const payload = new Uint8Array([0, 1, 2, 255]);
    const { id } = await client.submit("bytes", payload, { queue: "bytes" });
    const task = await client.status(id);
    expect(task.payload).toBeInstanceOf(Uint8Array);
    expect([...(task.payload as Uint8Array)]).toEqual([0, 1, 2, 255]);
  });

  test("submitMany keeps input order and an idempotency key returns the first task", async () => {
    const items = Array.from({ length: 25 }, (_, i) => ({ type: "bulk", payload: { i }, queue: "many" }));
    const out = await client.submitMany(items);
    expect(out).toHaveLength(25);
    for (let i = 0; i < 25; i++) expect((await client.status(out[i]!.id)).payload).toEqual({ i });
    const first = await client.submit("once", null, { idempotencyKey: "k-1", queue: "many" });
    const again = await client.submit("once", null, { idempotencyKey: "k-1", queue: "many" });
    expect(again).toEqual({ id: first.id, status: first.status, duplicate: true });
  });

  test("delay schedules, cancel cancels, retry re-runs, listTasks filters", async () => {
    const { id, status } = await client.submit("later", 1, { queue: "sched", delay: 60_000 });
    expect(status).toBe("scheduled");
    expect((await client.cancel(id)).status).toBe("cancelled");
    expect((await client.retry(id)).status).toBe("pending");
    const page = await client.listTasks({ queue: "sched", limit: 10 });
    expect(page.tasks.map((t) => t.id)).toContain(id);
    const stats = await client.stats();
    expect(stats).toHaveProperty("tasks");
    expect(Array.isArray(await client.workers())).toBe(true);
  });

  test("result() of a task that never finishes times out with TimeoutError; of a cancelled one throws TaskFailedError", async () => {
    const { id } = await client.submit("never", null, { queue: "idle-q" });
    let settled = false;
    const waited = client
      .result(id, { wait: 200 })
      .catch((e: unknown) => e)
      .finally(() => (settled = true));
    // The 200 ms are the SDK's own deadline, on its clock; each round it asks the broker to wait
    // (WaitResult), and that wait ends when the broker's clock passes it. Bounded by the SDK's deadline.
    let rounds = 0;
    while (!settled) {
      if ((await broker.app.broker.stats()).resultWaiters > 0) {
        clock.advance(200);
        rounds++;
      }
      await Bun.sleep(1);
    }
    expect(rounds).toBeGreaterThan(0);
    const err = await waited;
    expect(err).toBeInstanceOf(TimeoutError);
    await client.cancel(id);
    const failed = await client.result(id, { wait: 200 }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(TaskFailedError);
    expect((failed as TaskFailedError).status).toBe("cancelled");
  });
});

describe("typed errors", () => {
  test("NotFound, InvalidState and InvalidField come back as their classes with code and field", async () => {
    const missing = await client.status("00000000-0000-7000-8000-000000000000").catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing).toBeInstanceOf(TqError);
    expect((missing as TqError).code).toBe(8);
    expect((missing as TqError).name).toBe("NotFoundError");

    const { id } = await client.submit("x", null, { queue: "errs" });
    const notDead = await client.retry(id).catch((e: unknown) => e);
    expect(notDead).toBeInstanceOf(InvalidStateError);

    const badQueue = await client.submit("x", null, { queue: "no spaces allowed" }).catch((e: unknown) => e);
    expect(badQueue).toBeInstanceOf(InvalidFieldError);
    expect((badQueue as TqError).field).toBe("queue");

    const badPriority = await client.submit("x", null, { priority: 300 }).catch((e: unknown) => e);
    expect(badPriority).toBeInstanceOf(InvalidFieldError);
    expect((badPriority as TqError).field).toBe("priority");
  });

  test("QueueFull carries retryAfterMs and is retryable", async () => {
    const small = await startBroker({ "broker.queue_depth_threshold": 2 });
    const c = new Client({ url: `tq://127.0.0.1:${small.port}`, env: {} });
    try {
      await c.submitMany([{ type: "a" }, { type: "b" }]);
      const err = await c.submit("c").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QueueFullError);
      expect((err as TqError).retryable).toBe(true);
      expect((err as TqError).retryAfterMs).toBeGreaterThan(0);
    } finally {
      await c.close();
      await small.stop();
    }
  });

  test("a wrong API key is UnauthorizedError and is not retried forever", async () => {
    const secured = await startBroker({ "auth.enabled": true, "auth.api_keys": [{ name: "ci", key: "right-key-123456", role: "admin" }] });
    const c = new Client({ url: `tq://127.0.0.1:${secured.port}`, apiKey: "wrong", env: {}, requestTimeoutMs: 5000 });
    try {
      const err = await c.status("00000000-0000-7000-8000-000000000000").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnauthorizedError);
    } finally {
      await c.close();
      await secured.stop();
    }
  });
});
