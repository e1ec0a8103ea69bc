// Inspecting and steering tasks over the socket: status, cancel rules, re-running dead tasks,
// idempotent submits, listing with pagination, and the stats a client can read. On a FakeClock:
// time moves only when a test advances it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, tickedAt, type TestBroker } from "../helpers/broker.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, complete, expectKind, fail, spec, stats, status, submit } from "../helpers/wire.ts";

const clock = new FakeClock();
let broker: TestBroker;
let conn: RawConn;

beforeAll(async () => {
  // idle_timeout_secs: one connection serves every test while the clock moves.
  broker = await startBroker({ "broker.idle_timeout_secs": 3600 }, undefined, { clock });
  conn = await RawConn.connect(broker.port);
});

afterAll(async () => {
  conn.close();
  await broker.stop();
});

describe("status", () => {
  test("an unknown id is NotFound naming the id", async () => {
    const missing = expectKind(await conn.call({ kind: "QueryStatus", id: "0190a5a0-0000-7000-8000-00000000abcd" }), "Error");
    expect(missing.code).toBe(8);
    expect(missing.message).toContain("0190a5a0-0000-7000-8000-00000000abcd");
  });

  test("status reports every field of a stored task", async () => {
    const runAtMs = clock.now() + 60_000;
    const id = await submit(conn, spec("report", { queue: "status", priority: 7, maxRetries: 9, leaseMs: 1234, runAtMs, idempotencyKey: "st-1" }));
    const task = await status(conn, id);
    expect(task).toMatchObject({ id, type: "report", queue: "status", priority: 7, maxRetries: 9, leaseMs: 1234, status: "scheduled", idempotencyKey: "st-1", attempts: 0 });
    expect(task.runAtMs).toBe(runAtMs);
  });
});

describe("cancel", () => {
  test("pending and scheduled tasks can be cancelled and are never delivered", async () => {
    const pending = await submit(conn, spec("c", { queue: "cancel" }));
    const runAtMs = clock.now() + 20_000;
    const scheduled = await submit(conn, spec("c", { queue: "cancel", runAtMs }));
    expect(expectKind(await conn.call({ kind: "CancelTask", id: pending }), "TaskInfo").task.status).toBe("cancelled");
    expect(expectKind(await conn.call({ kind: "CancelTask", id: scheduled }), "TaskInfo").task.status).toBe("cancelled");
    // Past its run_at, once the scheduler has ticked there, the cancelled task is still not delivered.
    await tickedAt(broker, clock, runAtMs);
    expect(await claim(conn, { queues: ["cancel"] })).toEqual([]);
    expect((await status(conn, scheduled)).status).toBe("cancelled");
  });

  test("a finished task cannot be cancelled: InvalidState naming its status, and nothing changes", async () => {
    const id = await submit(conn, spec("c", { queue: "cancel2" }));
    const [task] = await claim(conn, { queues: ["cancel2"] });
    expectKind(await complete(conn, task!), "Ack");
    const error = expectKind(await conn.call({ kind: "CancelTask", id }), "Error");
    expect(error.code).toBe(9);
    expect(error.message).toContain("completed");
    expect((await status(conn, id)).status).toBe("completed");
  });
});

describe("retry of dead tasks", () => {
  test("a dead task is re-run with its attempts reset; a pending one cannot be retried", async () => {
    const id = await submit(conn, spec("r", { queue: "rerun", maxRetries: 0 }));
    const [task] = await claim(conn, { queues: ["rerun"] });
    expect(expectKind(await fail(conn, task!, "nope"), "FailOutcome").status).toBe("dead");
    const rerun = expectKind(await conn.call({ kind: "RetryTask", id }), "TaskInfo").task;
    expect(rerun.status).toBe("pending");
    expect(rerun.attempts).toBe(0);
    expect((await claim(conn, { queues: ["rerun"] }))[0]?.id).toBe(id);
    const other = await submit(conn, spec("r", { queue: "rerun2" }));
    expect(expectKind(await conn.call({ kind: "RetryTask", id: other }), "Error").code).toBe(9);
  });
});

describe("idempotency", () => {
  test("a second submit with the same key returns the first task's id", async () => {
    const first = expectKind(await conn.call({ kind: "SubmitTask", task: spec("i", { queue: "idem", idempotencyKey: "order-42" }) }), "Submitted");
    const second = expectKind(await conn.call({ kind: "SubmitTask", task: spec("i", { queue: "idem", idempotencyKey: "order-42" }) }), "Submitted");
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.id).toBe(first.id);
    expect((await claim(conn, { queues: ["idem"], max: 5 })).length).toBe(1);
  });
});

describe("listing", () => {
  test("tasks are listed by status and queue, page by page, without repeats", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await submit(conn, spec("l", { queue: "list" })));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const list = expectKind(await conn.call({ kind: "ListTasks", status: "pending", queue: "list", limit: 3, ...(cursor ? { cursor } : {}) }), "TaskList");
      seen.push(...list.tasks.map((t) => t.id));
      if (list.nextCursor === null) break;
      cursor = list.nextCursor;
    }
    expect(seen).toEqual(ids);
  });
});

describe("stats", () => {
  test("stats count pending tasks per queue and tier, and connections", async () => {
    await submit(conn, spec("s", { queue: "stats", priority: 255 }));
    await submit(conn, spec("s", { queue: "stats", priority: 10 }));
    const s = await stats(conn);
    const queue = s.tasks.queues.find((q: { queue: string }) => q.queue === "stats");
    expect(queue.pending).toEqual({ high: 1, normal: 0, low: 1 });
    expect(s.connections).toBeGreaterThanOrEqual(1);
    expect(s.totals.submitted).toBeGreaterThanOrEqual(2);
  });

  test("stats show what the background jobs and the group commit have done", async () => {
    const s = await stats(conn);
    expect(s.background.scheduler.runs).toBeGreaterThan(0);
    expect(s.background.scheduler.lastRunAtMs).toBeGreaterThan(clock.now() - 60_000);
    expect(s.background.scheduler.lastRunAtMs).toBeLessThanOrEqual(clock.now());
    expect(s.background.workers).toBeDefined();
    expect(s.commits.commits).toBeGreaterThan(0);
    expect(s.commits.p99Ms).toBeGreaterThanOrEqual(0);
  });
});
