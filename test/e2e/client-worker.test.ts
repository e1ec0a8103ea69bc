// The Worker runtime against a real broker: concurrency bound, lease renewal past a short lease,
// lease loss firing ctx.signal, failures retried then dead, unrecoverable errors, unknown types.
// Handlers wait on promises the test controls; no assertion depends on how long anything took.
// The broker runs on a FakeClock: leases expire and retries come due only when a test advances it;
// the SDK's own timers (renewals, the per-task timeout) run on real time, as they do for users.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { Client, LeaseLostError, TaskFailedError, Worker, type TaskContext, type WorkerOptions } from "../../src/index.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { eventually } from "../helpers/wire.ts";

const RETRY_BASE_MS = 5000;
// Started at the wall time: the SDK estimates a lease's length from the expiry it is handed.
const clock = new FakeClock(Date.now());
let broker: TestBroker;
let client: Client;
let url: string;

beforeAll(async () => {
  broker = await startBroker(
    {
      "broker.retry_base_delay_ms": RETRY_BASE_MS,
      "broker.retry_jitter": 0,
      "broker.max_batch_claim": 50,
      // The SDK's connections stay open while the clock moves.
      "broker.idle_timeout_secs": 3600,
    },
    undefined,
    { clock },
  );
  url = `tq://127.0.0.1:${broker.port}`;
  client = new Client({ url, env: {} });
});

afterAll(async () => {
  await client.close();
  await broker.stop();
});

// The SDK estimates a lease's length from the expiry it is handed and its own clock: the broker's
// must not lag the wall clock by the time earlier tests took, or a 500 ms lease looks expired
// already (the estimate then falls back to the 30 s default and renews far too late). Set, as
// after `date -s`: no broker timer fires for it.
beforeEach(() => {
  if (clock.now() < Date.now()) clock.set(Date.now());
});

// Only for handlers' own work: a client-side wait, no broker timer.
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
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    worker.register("long", async (_t, ctx: TaskContext) => {
      ctx.signal.addEventListener("abort", () => (signalFired = true));
      started();
      await finished;
      return "survived";
    });
    const { id } = await client.submit("long", null, { queue: "long", timeout: 500, maxRetries: 0 });
    await worker.start();
    try {
      await running;
      const expiry = async (): Promise<number> => (await client.status(id)).leaseExpiresAtMs!;
      // Three steps of 400 ms, 1.2 s of broker time in all: without the SDK's renewals (its own
      // real-time timer) the lease would have expired twice over. Each step waits for a renewal.
      for (let i = 0; i < 3; i++) {
        const before = await expiry();
        clock.advance(400);
        await eventually(async () => (await expiry()) > before, 5000, 10);
        expect(await expiry()).toBe(clock.now() + 500);
      }
      finish();
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
        // The broker's clock passes the lease in one step, so no renewal can land in time: the
        // broker reclaims it, and the SDK's next renewal learns the lease is lost.
        clock.advance(300);
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
    const outcomes: Array<{ status: string; retryAtMs: number | null }> = [];
    // Each retry comes due when the broker's clock reaches its backoff (5 s, then 10 s).
    worker.on("failed", (_t, _e, outcome: { status: string; retryAtMs: number | null }) => {
      outcomes.push(outcome);
      if (outcome.retryAtMs !== null) clock.advance(outcome.retryAtMs - clock.now());
    });
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
    expect(outcomes[1]!.retryAtMs! - outcomes[0]!.retryAtMs!).toBe(2 * RETRY_BASE_MS);
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

  // The per-task timeout is the SDK's own timer, on real time: no broker timer is waited for.
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

  test("takes its tasks through a subscription: no claim is parked while it idles, and a task submitted later starts at once", async () => {
    const worker = newWorker({ queues: ["subscribed"], concurrency: 2 });
    worker.register("echo", (t) => t.payload);
    await worker.start();
    try {
      const first = await client.submit("echo", 1, { queue: "subscribed" });
      expect(await client.result(first.id, { wait: 10_000 })).toBe(1);
      // A claim-based worker would hold a blocking claim now; a subscribed one holds none.
      expect((await broker.app.broker.stats()).parkedClaims).toBe(0);
      const ids = (await client.submitMany(Array.from({ length: 20 }, (_, i) => ({ type: "echo", payload: i, queue: "subscribed" })))).map((r) => r.id);
      for (const [i, id] of ids.entries()) expect(await client.result(id, { wait: 10_000 })).toBe(i);
    } finally {
      await worker.stop();
    }
  });

  test("an operator's quiet stops deliveries (what it holds still runs); shutdown stops the worker, handing back nothing", async () => {
    const worker = newWorker({ queues: ["quieted"], concurrency: 1, heartbeatIntervalMs: 20 });
    worker.register("job", (t) => t.payload);
    const stopped = new Promise<void>((resolve) => worker.once("stopped", resolve));
    await worker.start();
    const before = await client.submit("job", "before", { queue: "quieted" });
    expect(await client.result(before.id, { wait: 10_000 })).toBe("before");
    broker.app.broker.setWorkerCommand(worker.workerId, "quiet");
    const after = await client.submit("job", "after", { queue: "quieted" });
    // Ten heartbeats go by (the SDK's real-time timer): the worker hears of the command, and still
    // nothing is delivered.
    await sleep(200);
    expect((await client.status(after.id)).status).toBe("pending");
    broker.app.broker.setWorkerCommand(worker.workerId, "shutdown");
    await stopped;
    expect((await client.status(after.id)).status).toBe("pending");
  });
});
