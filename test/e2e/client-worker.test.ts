// The Worker runtime against a real broker: concurrency bound, lease renewal past a short lease,
// lease loss firing ctx.signal, failures retried then dead, unrecoverable errors, unknown types.
// Handlers wait on promises the test controls; no assertion depends on how long anything took.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client, LeaseLostError, TaskFailedError, Worker, type TaskContext, type WorkerOptions } from "../../src/index.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";

let broker: TestBroker;
let client: Client;
let url: string;

beforeAll(async () => {
  broker = await startBroker({ "broker.retry_base_delay_ms": 10, "broker.retry_jitter": 0, "broker.max_batch_claim": 50 });
  url = `tq://127.0.0.1:${broker.port}`;
  client = new Client({ url, env: {} });
});

afterAll(async () => {
  await client.close();
  await broker.stop();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function newWorker(options: WorkerOptions): Worker {
  const w = new Worker({ url, env: {}, handleSignals: false, ...options });
  w.on("error", () => {});
  return w;
}

/** Resolves when the signal fires (or after `capMs`, so a broken test ends). */
function aborted(signal: AbortSignal, capMs = 10_000): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(signal.reason);
    const timer = setTimeout(() => resolve(undefined), capMs);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve(signal.reason);
    });
  });
}

describe("Worker", () => {
  test("never runs more than `concurrency` handlers at once, and runs them all", async () => {
    const worker = newWorker({ queues: ["conc"], concurrency: 3 });
    let now = 0;
    let peak = 0;
    worker.register("job", async () => {
      now++;
      peak = Math.max(peak, now);
      await sleep(20);
      now--;
      return "ok";
    });
    const ids = (await client.submitMany(Array.from({ length: 15 }, () => ({ type: "job", queue: "conc" })))).map((s) => s.id);
    await worker.start();
    try {
      for (const id of ids) expect(await client.result(id, { wait: 10_000 })).toBe("ok");
    } finally {
      await worker.stop();
    }
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBe(3);
  });

  test("lease renewal keeps a task alive well past its 500 ms lease", async () => {
    const worker = newWorker({ queues: ["long"], concurrency: 1 });
    const errors: unknown[] = [];
    worker.on("error", (e) => errors.push(e));
    let signalFired = false;
    worker.register("long", async (_t, ctx: TaskContext) => {
      ctx.signal.addEventListener("abort", () => (signalFired = true));
      // Three lease lengths: without renewal the broker would reclaim the task twice over.
      await sleep(1500);
      return "survived";
    });
    const { id } = await client.submit("long", null, { queue: "long", timeout: 500, maxRetries: 0 });
    await worker.start();
    try {
      expect(await client.result(id, { wait: 10_000 })).toBe("survived");
    } finally {
      await worker.stop();
    }
    const task = await client.status(id);
    expect(task.attempts).toBe(0);
    expect(signalFired).toBe(false);
    expect(errors).toEqual([]);
  });

  test("losing the lease fires ctx.signal with LeaseLostError and the stale result is not reported", async () => {
    const worker = newWorker({ queues: ["lost"], concurrency: 1 });
    const reasons: unknown[] = [];
    const completed: unknown[] = [];
    worker.on("completed", (t) => completed.push(t));
    let runs = 0;
    worker.register("stuck", async (_t, ctx: TaskContext) => {
      runs++;
      if (runs === 1) {
        // Block the event loop past the lease so no renewal can go out: the broker reclaims it.
        const until = Date.now() + 900;
        while (Date.now() < until) {}
        reasons.push(await aborted(ctx.signal));
        return "stale";
      }
      return "second run";
    });
    const { id } = await client.submit("stuck", null, { queue: "lost", timeout: 300, maxRetries: 3 });
    await worker.start();
    try {
      expect(await client.result(id, { wait: 10_000 })).toBe("second run");
    } finally {
      await worker.stop();
    }
    expect(reasons[0]).toBeInstanceOf(LeaseLostError);
    expect(completed).toHaveLength(1);
  });

  test("a throwing handler is retried until dead, with the message and stack kept", async () => {
    const worker = newWorker({ queues: ["fail"], concurrency: 2 });
    const outcomes: Array<{ status: string }> = [];
    worker.on("failed", (_t, _e, outcome: { status: string }) => outcomes.push(outcome));
    worker.register("boom", () => {
      throw new Error("kaboom");
    });
    const { id } = await client.submit("boom", null, { queue: "fail", maxRetries: 2 });
    await worker.start();
    try {
      const err = await client.result(id, { wait: 10_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TaskFailedError);
      expect((err as TaskFailedError).status).toBe("dead");
    } finally {
      await worker.stop();
    }
    const task = await client.status(id);
    expect(task.attempts).toBe(3);
    expect(task.error).toContain("Error: kaboom");
    expect(task.error).toContain("client-worker.test.ts");
    expect(outcomes.map((o) => o.status)).toEqual(["failed", "failed", "dead"]);
  });

  test("UnrecoverableError goes straight to dead; a type with no handler fails with a clear message", async () => {
    const { UnrecoverableError } = await import("../../src/index.ts");
    const worker = newWorker({ queues: ["unrec"] });
    worker.register("poison", () => {
      throw new UnrecoverableError("bad input");
    });
    const poison = await client.submit("poison", null, { queue: "unrec", maxRetries: 5 });
    const orphan = await client.submit("nobody.handles.this", null, { queue: "unrec", maxRetries: 0 });
    await worker.start();
    try {
      expect(await client.result(poison.id, { wait: 10_000 }).catch((e: unknown) => e)).toBeInstanceOf(TaskFailedError);
      expect(await client.result(orphan.id, { wait: 10_000 }).catch((e: unknown) => e)).toBeInstanceOf(TaskFailedError);
    } finally {
      await worker.stop();
    }
    const p = await client.status(poison.id);
    expect(p.status).toBe("dead");
    expect(p.attempts).toBe(1);
    const o = await client.status(orphan.id);
    expect(o.error).toContain('no handler registered for task type "nobody.handles.this"');
    expect(o.error).toContain("poison");
  });

  test("the per-task timeout fires the signal and reports the run failed", async () => {
    const worker = newWorker({ queues: ["tmo"], taskTimeoutMs: 200 });
    let reason: unknown;
    worker.register("slow", async (_t, ctx: TaskContext) => {
      reason = await aborted(ctx.signal);
    });
    const { id } = await client.submit("slow", null, { queue: "tmo", maxRetries: 0 });
    await worker.start();
    try {
      expect(await client.result(id, { wait: 10_000 }).catch((e: unknown) => e)).toBeInstanceOf(TaskFailedError);
    } finally {
      await worker.stop();
    }
    expect((reason as Error).name).toBe("TimeoutError");
    expect((await client.status(id)).error).toContain("timed out after 200 ms");
  });
});
