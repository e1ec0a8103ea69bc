// The Worker on its default path, a subscription, against a scripted fake broker: the credits it
// asks for, a slot freed the moment a handler returns (its outcome acknowledged later), the bound
// on outcomes in flight, tasks waiting for a slot (renewed, listed in heartbeats, dropped when
// cancelled, handed back at stop), and a new subscription on every connection.
import { afterEach, describe, expect, test } from "bun:test";
import type { ClaimedTask, Request, Response } from "../../../src/protocol/messages.ts";
import { Worker } from "../../../src/client/worker.ts";
import { FakeBroker, type FakeConn } from "./fake-broker.ts";

let fake: FakeBroker;
const workers: Worker[] = [];

afterEach(async () => {
  for (const w of workers.splice(0)) await w.stop({ timeoutMs: 50 });
  fake?.stop();
});

function taskId(n: number): string {
  return `01890000-0000-7000-8000-${String(n).padStart(12, "0")}`;
}

function task(n: number, leaseMs = 60_000): ClaimedTask {
  return {
    id: taskId(n),
    token: 1000 + n,
    expiresAtMs: Date.now() + leaseMs,
    attempts: 0,
    priority: 150,
    queue: "default",
    type: "job",
    payloadIsJson: true,
    payload: new TextEncoder().encode(String(n)),
    createdAtMs: 1,
    maxRetries: 0,
  };
}

/** Answers what a worker sends as a broker with subscriptions would; `extra` first. */
function broker(extra: (req: Request, conn: FakeConn) => Response | null | undefined = () => undefined) {
  return (req: Request, conn: FakeConn): Response | null => {
    const answer = extra(req, conn);
    if (answer !== undefined) return answer;
    switch (req.kind) {
      case "RegisterWorker":
        return { kind: "Registered", requestId: req.requestId, heartbeatIntervalMs: 60_000 };
      case "EnableNotices":
      case "Subscribe":
      case "Unsubscribe":
      case "Nack":
      case "DeregisterWorker":
        return { kind: "Ack", requestId: req.requestId };
      case "RenewLease":
        return { kind: "Renewed", requestId: req.requestId, expiresAtMs: req.leases.map(() => Date.now() + 60_000) };
      case "Heartbeat":
        return { kind: "HeartbeatOk", requestId: req.requestId, command: "none", renewed: req.inFlight.map(() => Date.now() + 60_000) };
      case "TaskResultBatch":
        return { kind: "ResultBatchOutcome", requestId: req.requestId, entries: req.results.map(() => ({ entry: "ok" as const })) };
      default:
        return null;
    }
  };
}

function deliver(conn: FakeConn, tasks: ClaimedTask[]): void {
  conn.reply({ kind: "Delivery", requestId: 0, subscriptionId: 1, tasks });
}

/** A worker whose handlers are timed by a clock that never moves: each takes 0 ms. */
class FrozenClockWorker extends Worker {
  override now(): number {
    return 1_000;
  }
}

function newWorker(options: ConstructorParameters<typeof Worker>[0] = {}, Kind: typeof Worker = Worker): Worker {
  const w = new Kind({ url: fake.url, env: {}, handleSignals: false, reconnect: { initialDelayMs: 10, maxDelayMs: 20 }, ...options });
  w.on("error", () => {});
  workers.push(w);
  return w;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`not reached: ${what}`);
}

describe("Worker on a subscription", () => {
  test("subscribes for 4 x concurrency credits at start (or `prefetch`), and again on every new connection, claiming nothing", async () => {
    fake = await FakeBroker.start(
      broker((req, conn) => {
        if (req.kind === "Subscribe" && conn.index === 1) setTimeout(() => conn.drop(), 20);
        return undefined;
      }),
    );
    const w = newWorker({ concurrency: 3 });
    await w.start();
    await until(() => fake.seen("Subscribe").length >= 2, "a second Subscribe after the drop");
    expect(fake.seen("Subscribe").map((s) => [s.subscriptionId, s.queues, s.credits])).toEqual([
      [1, ["default"], 12],
      [1, ["default"], 12],
    ]);
    expect(fake.seen("ClaimTask")).toEqual([]);
    expect(newWorker({ concurrency: 3, prefetch: 5 }).credits).toBe(5);
    expect(newWorker({ concurrency: 5000 }).credits).toBe(10_000);
    expect(() => newWorker({ prefetch: 10_001 })).toThrow("prefetch");
  });

  test("fast handlers widen the window: the same subscription is asked for more credits", async () => {
    fake = await FakeBroker.start(
      broker((req, conn) => {
        if (req.kind === "Subscribe" && req.credits === 16) setTimeout(() => deliver(conn, Array.from({ length: 16 }, (_, i) => task(i + 1))), 5);
        return undefined;
      }),
    );
    // Handlers timed by a clock that stands still: each took 0 ms whatever the machine's load (a
    // loaded machine made the first measured handler take ~7 ms of wall time, which shrank the window).
    const w = newWorker({ concurrency: 4 }, FrozenClockWorker);
    w.register("job", () => {});
    await w.start();
    await until(() => fake.seen("Subscribe").length >= 2, "a second Subscribe");
    const [first, second] = fake.seen("Subscribe");
    expect(first!.credits).toBe(16);
    expect(second).toMatchObject({ subscriptionId: 1, queues: ["default"] });
    // Handlers faster than the 0.01 ms floor open it to its 1000-credit maximum at once
    // (prefetch-window.test.ts has the arithmetic).
    expect(second!.credits).toBe(1000);
    expect(w.credits).toBe(1000);
  });

  test("runs at most `concurrency` of what is delivered; a slot frees when its handler returns, before the outcome is acknowledged", async () => {
    const heldResults: Array<{ conn: FakeConn; req: Extract<Request, { kind: "TaskResultBatch" }> }> = [];
    fake = await FakeBroker.start(
      broker((req, conn) => {
        if (req.kind === "Subscribe") setTimeout(() => deliver(conn, [task(1), task(2), task(3)]), 5);
        // The broker's commit is slow: no outcome is acknowledged until the test says so.
        if (req.kind === "TaskResultBatch") {
          heldResults.push({ conn, req });
          return null;
        }
        return undefined;
      }),
    );
    const w = newWorker({ concurrency: 1 });
    const started: number[] = [];
    let peak = 0;
    let now = 0;
    w.register("job", async (t) => {
      now++;
      peak = Math.max(peak, now);
      started.push(t.payload as number);
      await new Promise((r) => setTimeout(r, 5));
      now--;
    });
    const completed: string[] = [];
    w.on("completed", (t: { id: string }) => completed.push(t.id));
    await w.start();
    await until(() => started.length === 3, "all three handlers ran");
    expect(peak).toBe(1);
    // Every handler ran although no outcome has been acknowledged yet.
    expect(completed).toEqual([]);
    await until(() => heldResults.flatMap((h) => h.req.results).length === 3, "the three outcomes sent");
    expect(heldResults.flatMap((h) => h.req.results.map((r) => r.id))).toEqual([taskId(1), taskId(2), taskId(3)]);
    for (const h of heldResults) h.conn.reply({ kind: "ResultBatchOutcome", requestId: h.req.requestId, entries: h.req.results.map(() => ({ entry: "ok" as const })) });
    await until(() => completed.length === 3, "the completed events, once acknowledged");
  });

  test("no new task starts while 10,000 outcomes are unacknowledged; the next starts when one is", async () => {
    const held: Array<{ conn: FakeConn; req: Extract<Request, { kind: "TaskResultBatch" }> }> = [];
    fake = await FakeBroker.start(
      broker((req, conn) => {
        if (req.kind === "Subscribe" && conn.requests.filter((r) => r.kind === "Subscribe").length === 1) {
          setTimeout(() => deliver(conn, Array.from({ length: 10_001 }, (_, i) => task(i + 1))), 5);
        }
        if (req.kind === "TaskResultBatch") {
          held.push({ conn, req });
          return null;
        }
        return undefined;
      }),
    );
    const w = newWorker({ concurrency: 4, prefetch: 10_000 });
    let ran = 0;
    w.register("job", () => {
      ran++;
    });
    await w.start();
    await until(() => ran === 10_000, "10,000 handlers");
    await new Promise((r) => setTimeout(r, 50));
    expect(ran).toBe(10_000);
    const first = held.shift()!;
    first.conn.reply({ kind: "ResultBatchOutcome", requestId: first.req.requestId, entries: first.req.results.map(() => ({ entry: "ok" as const })) });
    await until(() => ran === 10_001, "the last task, once an outcome was acknowledged");
  });

  test("no new task starts while 64 MiB of results are unacknowledged", async () => {
    const held: Array<{ conn: FakeConn; req: Extract<Request, { kind: "TaskResultBatch" }> }> = [];
    fake = await FakeBroker.start(
      broker((req, conn) => {
        if (req.kind === "Subscribe" && conn.requests.filter((r) => r.kind === "Subscribe").length === 1) {
          setTimeout(() => deliver(conn, Array.from({ length: 17 }, (_, i) => task(i + 1))), 5);
        }
        if (req.kind === "TaskResultBatch") {
          held.push({ conn, req });
          return null;
        }
        return undefined;
      }),
    );
    const w = newWorker({ concurrency: 1, prefetch: 17 });
    let ran = 0;
    // 4 MiB results: 16 of them are the 64 MiB the worker may have waiting for acknowledgement.
    w.register("job", () => {
      ran++;
      return new Uint8Array(4 * 1024 * 1024);
    });
    await w.start();
    await until(() => ran === 16 && held.flatMap((h) => h.req.results).length === 16, "16 handlers and their outcomes sent");
    await new Promise((r) => setTimeout(r, 50));
    expect(ran).toBe(16);
    const first = held.shift()!;
    first.conn.reply({ kind: "ResultBatchOutcome", requestId: first.req.requestId, entries: first.req.results.map(() => ({ entry: "ok" as const })) });
    await until(() => ran === 17, "the 17th, once an outcome was acknowledged");
  });

  test("tasks waiting for a slot: renewed while they wait, listed in heartbeats, dropped when cancelled, handed back at stop", async () => {
    let release: () => void = () => {};
    const hold = new Promise<void>((r) => (release = r));
    fake = await FakeBroker.start(
      broker((req, conn) => {
        // Leases of 300 ms: a task waiting behind a long handler must be renewed to survive.
        if (req.kind === "Subscribe") setTimeout(() => deliver(conn, [task(1, 300), task(2, 300), task(3, 300), task(4, 300)]), 5);
        return undefined;
      }),
    );
    const w = newWorker({ concurrency: 1, heartbeatIntervalMs: 40 });
    const started: number[] = [];
    w.register("job", async (t) => {
      started.push(t.payload as number);
      if (t.payload === 1) await hold;
    });
    await w.start();
    await until(() => started.length === 1, "the first handler");
    await until(() => fake.seen("RenewLease").some((r) => r.leases.some((l) => l.id === taskId(2))), "a renewal of a waiting task");
    await until(() => fake.seen("Heartbeat").some((h) => h.inFlight.length === 4), "a heartbeat with the running and the waiting leases");
    const beat = fake.seen("Heartbeat").find((h) => h.inFlight.length === 4)!;
    expect(beat.inFlight.map((l) => l.id)).toEqual([taskId(1), taskId(2), taskId(3), taskId(4)]);
    // Task 3 is cancelled while it waits: it never runs.
    fake.conns[0]!.reply({ kind: "TaskCancelled", requestId: 0, id: taskId(3), token: 1003 });
    await new Promise((r) => setTimeout(r, 20));
    const stopped = w.stop({ timeoutMs: 1000 });
    await until(() => fake.seen("Nack").length >= 1, "the waiting tasks handed back");
    release();
    await stopped;
    expect(started).toEqual([1]);
    const kinds = fake.requests.map((r) => r.kind);
    expect(kinds.indexOf("Unsubscribe")).toBeLessThan(kinds.indexOf("Nack"));
    expect(fake.seen("Nack").flatMap((n) => n.leases)).toEqual([
      { id: taskId(2), token: 1002 },
      { id: taskId(4), token: 1004 },
    ]);
    expect(kinds.indexOf("Nack")).toBeLessThan(kinds.indexOf("DeregisterWorker"));
  });

  test("tasks delivered once it is stopping are handed back, not run", async () => {
    let conn1: FakeConn | null = null;
    fake = await FakeBroker.start(
      broker((req, conn) => {
        if (req.kind === "Subscribe") conn1 = conn;
        // Delivered in the instant before the Unsubscribe is answered.
        if (req.kind === "Unsubscribe") deliver(conn, [task(9)]);
        return undefined;
      }),
    );
    const w = newWorker();
    let ran = 0;
    w.register("job", () => {
      ran++;
    });
    await w.start();
    await until(() => conn1 !== null, "subscribed");
    await w.stop({ timeoutMs: 100 });
    expect(ran).toBe(0);
    expect(fake.seen("Nack").flatMap((n) => n.leases)).toEqual([{ id: taskId(9), token: 1009 }]);
  });
});
