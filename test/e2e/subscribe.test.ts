// The credit-based consumer path over a real socket: Subscribe, Delivery frames pushed while the
// subscription has credits, a credit back at each lease end (result, hand-back, cancel, expiry,
// deregistration), priority and FIFO order across subscribers, paused queues and operator commands,
// and backpressure on a subscriber that stops reading. The broker runs on a FakeClock: leases expire
// only when a test advances it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { Client } from "../../src/client/client.ts";
import { FrameDecoder } from "../../src/protocol/frame-decoder.ts";
import { encodeRequest } from "../../src/protocol/frame-writer.ts";
import type { ClaimedTask, DeliveryPush, Response } from "../../src/protocol/messages.ts";
import { decodeResponse } from "../../src/protocol/response-codec.ts";
import { startBroker, tickedAt, type TestBroker } from "../helpers/broker.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, complete, eventually, expectKind, sleep, spec, stats, status, submit } from "../helpers/wire.ts";

const clock = new FakeClock(Date.now());
let broker: TestBroker;
let producer: RawConn;
const conns: RawConn[] = [];

async function connect(): Promise<RawConn> {
  const conn = await RawConn.connect(broker.port);
  conns.push(conn);
  return conn;
}

/** A registered worker connection with notices on, subscribed to `queues` with `credits`. */
async function subscriber(workerId: string, queues: string[], credits: number, subscriptionId = 1): Promise<RawConn> {
  const conn = await connect();
  expectKind(await conn.call({ kind: "RegisterWorker", workerId, hostname: "h", pid: 1, queues, concurrency: credits, version: "t", labels: [] }), "Registered");
  expectKind(await conn.call({ kind: "EnableNotices", notices: 1 }), "Ack");
  expectKind(await conn.call({ kind: "Subscribe", subscriptionId, queues, credits }), "Ack");
  return conn;
}

/** The tasks of the next Delivery frame on `conn` (fails after `timeoutMs`). */
async function delivery(conn: RawConn, timeoutMs = 2000): Promise<DeliveryPush> {
  return expectKind(await conn.waitFor((r) => r.kind === "Delivery", timeoutMs), "Delivery");
}

/** Every task delivered on `conn` until none more arrives within `quietMs`. */
async function deliveredUntilQuiet(conn: RawConn, quietMs = 150): Promise<ClaimedTask[]> {
  const tasks: ClaimedTask[] = [];
  for (;;) {
    const d = await delivery(conn, quietMs).catch(() => null);
    if (d === null) return tasks;
    tasks.push(...d.tasks);
  }
}

/** Submits `count` tasks in one batch; their ids, in order (at least one). */
async function submitMany(queue: string, count: number, fields: Parameters<typeof spec>[1] = {}): Promise<[string, ...string[]]> {
  const tasks = Array.from({ length: count }, (_, i) => spec(`t${i}`, { queue, ...fields }));
  return expectKind(await producer.call({ kind: "SubmitBatch", tasks }), "SubmittedBatch").outcomes.map((o) => o.id) as [string, ...string[]];
}

beforeAll(async () => {
  broker = await startBroker({ "broker.idle_timeout_secs": 3600, "broker.disconnect_grace_secs": 5 }, undefined, { clock });
  producer = await connect();
});

afterAll(async () => {
  for (const conn of conns) conn.close();
  await broker.stop();
});

describe("Subscribe", () => {
  test("pushes ready tasks up to its credits and no further; each result gives one credit back", async () => {
    const ids = await submitMany("sub-credits", 7);
    const worker = await subscriber("sw-credits", ["sub-credits"], 3);
    const first = await deliveredUntilQuiet(worker);
    expect(first.map((t) => t.id)).toEqual(ids.slice(0, 3));
    expect(first.every((t) => t.queue === "sub-credits" && t.attempts === 0)).toBe(true);
    // The first result frees one credit: exactly one more task comes, the next in line.
    expect(expectKind(await complete(worker, first[0]!), "Ack").kind).toBe("Ack");
    const second = await deliveredUntilQuiet(worker);
    expect(second.map((t) => t.id)).toEqual([ids[3]!]);
    // A batch of two results frees two.
    const batch = await worker.call({
      kind: "TaskResultBatch",
      results: [first[1]!, first[2]!].map((t) => ({ id: t.id, token: t.token, outcome: "completed" as const, resultIsJson: false, result: new Uint8Array(0), error: "" })),
    });
    expect(expectKind(batch, "ResultBatchOutcome").entries).toEqual([{ entry: "ok" }, { entry: "ok" }]);
    expect((await deliveredUntilQuiet(worker)).map((t) => t.id)).toEqual(ids.slice(4, 6));
    // A stale or repeated result gives nothing back: still three out, one task waiting.
    expect(expectKind(await complete(worker, first[0]!), "Error").code).toBe(10);
    expect(await deliveredUntilQuiet(worker)).toEqual([]);
    expect((await status(producer, ids[6]!)).status).toBe("pending");
  });

  test("a subscription waits for tasks: one submitted later is pushed at once, as its commit makes it ready", async () => {
    const worker = await subscriber("sw-wait", ["sub-wait"], 2);
    expect(await deliveredUntilQuiet(worker, 100)).toEqual([]);
    const [id] = await submitMany("sub-wait", 1);
    expect((await delivery(worker)).tasks.map((t) => t.id)).toEqual([id!]);
    expect((await status(producer, id!)).status).toBe("in_progress");
  });

  test("subscribers are served longest-waiting first, and tasks go out by priority, then FIFO", async () => {
    const a = await subscriber("sw-order-a", ["sub-order"], 1);
    const b = await subscriber("sw-order-b", ["sub-order"], 1);
    // One batch, so both are ready in the same commit: low, high, normal, high.
    const ids = expectKind(
      await producer.call({
        kind: "SubmitBatch",
        tasks: [
          spec("low", { queue: "sub-order", priority: 10 }),
          spec("high-1", { queue: "sub-order", priority: 250 }),
          spec("normal", { queue: "sub-order", priority: 150 }),
          spec("high-2", { queue: "sub-order", priority: 250 }),
        ],
      }),
      "SubmittedBatch",
    ).outcomes.map((o) => o.id);
    const [low, high1, normal, high2] = ids as [string, string, string, string];
    const toA = (await delivery(a)).tasks;
    const toB = (await delivery(b)).tasks;
    // a subscribed first: it gets the best task, b the next best.
    expect(toA.map((t) => t.id)).toEqual([high1]);
    expect(toB.map((t) => t.id)).toEqual([high2]);
    // b reports first, so b waits longer than a from then on and is served first.
    expectKind(await complete(b, toB[0]!), "Ack");
    expectKind(await complete(a, toA[0]!), "Ack");
    expect((await delivery(b)).tasks.map((t) => t.id)).toEqual([normal]);
    expect((await delivery(a)).tasks.map((t) => t.id)).toEqual([low]);
  });

  test("a parked ClaimTask and a subscription share one line: the one waiting longer gets the task", async () => {
    const sub = await subscriber("sw-line", ["sub-line"], 1);
    const claimer = await connect();
    const parked = claim(claimer, { queues: ["sub-line"], waitMs: 5000 });
    await eventually(async () => (await broker.app.broker.stats()).parkedClaims >= 1, 2000, 5);
    const [first, second] = await submitMany("sub-line", 2);
    expect((await delivery(sub)).tasks.map((t) => t.id)).toEqual([first!]);
    expect((await parked).map((t) => t.id)).toEqual([second!]);
  });

  test("a hand-back (Nack) gives the credit back and the task comes round again", async () => {
    const [id] = await submitMany("sub-nack", 1);
    const worker = await subscriber("sw-nack", ["sub-nack"], 1);
    const task = (await delivery(worker)).tasks[0]!;
    expectKind(await worker.call({ kind: "Nack", leases: [{ id: task.id, token: task.token }] }), "Ack");
    const again = (await delivery(worker)).tasks[0]!;
    expect(again.id).toBe(id);
    expect(again.token).not.toBe(task.token);
    expect(again.attempts).toBe(0);
  });

  test("a cancel of a delivered task is pushed as TaskCancelled and gives its credit back", async () => {
    const [id, next] = await submitMany("sub-cancel", 2);
    const worker = await subscriber("sw-cancel", ["sub-cancel"], 1);
    const task = (await delivery(worker)).tasks[0]!;
    expect(task.id).toBe(id);
    expectKind(await producer.call({ kind: "CancelTask", id: id! }), "TaskInfo");
    expect(expectKind(await worker.waitFor((r) => r.kind === "TaskCancelled"), "TaskCancelled")).toMatchObject({ id, token: task.token });
    expect((await delivery(worker)).tasks.map((t) => t.id)).toEqual([next!]);
  });

  test("an expired lease gives its credit back; the task is delivered again with a new token", async () => {
    const [id] = await submitMany("sub-expire", 1, { leaseMs: 1000 });
    const worker = await subscriber("sw-expire", ["sub-expire"], 1);
    const task = (await delivery(worker)).tasks[0]!;
    await tickedAt(broker, clock, clock.now() + 1000);
    const again = (await delivery(worker)).tasks[0]!;
    expect(again.id).toBe(id);
    expect(again.token).not.toBe(task.token);
    expect(again.attempts).toBe(1);
  });

  test("Unsubscribe: nothing is pushed after its Ack; what was delivered stays leased and can be reported", async () => {
    const ids = await submitMany("sub-unsub", 3);
    const worker = await subscriber("sw-unsub", ["sub-unsub"], 1);
    const task = (await delivery(worker)).tasks[0]!;
    expectKind(await worker.call({ kind: "Unsubscribe", subscriptionId: 1 }), "Ack");
    expectKind(await complete(worker, task), "Ack");
    expect(await deliveredUntilQuiet(worker)).toEqual([]);
    expect((await status(producer, ids[1]!)).status).toBe("pending");
    const unknown = expectKind(await worker.call({ kind: "Unsubscribe", subscriptionId: 1 }), "Error");
    expect(unknown).toMatchObject({ code: 8, field: "subscriptionId" });
  });

  test("Subscribe again with the same id changes its credits; tasks out count against the new number", async () => {
    const ids = await submitMany("sub-resize", 5);
    const worker = await subscriber("sw-resize", ["sub-resize"], 1);
    expect((await deliveredUntilQuiet(worker)).length).toBe(1);
    expectKind(await worker.call({ kind: "Subscribe", subscriptionId: 1, queues: ["sub-resize"], credits: 3 }), "Ack");
    expect((await deliveredUntilQuiet(worker)).map((t) => t.id)).toEqual(ids.slice(1, 3));
  });

  test("no task from a paused queue; its tasks come once it is resumed", async () => {
    const [id] = await submitMany("sub-paused", 1);
    broker.app.broker.pause("sub-paused");
    const worker = await subscriber("sw-paused", ["sub-paused"], 2);
    expect(await deliveredUntilQuiet(worker)).toEqual([]);
    broker.app.broker.resume("sub-paused");
    expect((await delivery(worker)).tasks.map((t) => t.id)).toEqual([id!]);
  });

  test("a worker told to quiet or shut down gets nothing more; another subscriber does", async () => {
    const quiet = await subscriber("sw-quiet", ["sub-quiet"], 5);
    const down = await subscriber("sw-down", ["sub-quiet"], 5);
    broker.app.broker.setWorkerCommand("sw-quiet", "quiet");
    broker.app.broker.setWorkerCommand("sw-down", "shutdown");
    const other = await subscriber("sw-other", ["sub-quiet"], 5);
    const ids = await submitMany("sub-quiet", 2);
    expect((await deliveredUntilQuiet(other)).map((t) => t.id)).toEqual(ids);
    expect(await deliveredUntilQuiet(quiet, 50)).toEqual([]);
    expect(await deliveredUntilQuiet(down, 50)).toEqual([]);
  });

  test("DeregisterWorker ends the worker's subscription and hands its tasks back at once", async () => {
    const ids = await submitMany("sub-dereg", 2);
    const worker = await subscriber("sw-dereg", ["sub-dereg"], 1);
    expect((await delivery(worker)).tasks.map((t) => t.id)).toEqual([ids[0]!]);
    expectKind(await worker.call({ kind: "DeregisterWorker", workerId: "sw-dereg" }), "Ack");
    expect((await status(producer, ids[0]!)).status).toBe("pending");
    expect(await deliveredUntilQuiet(worker)).toEqual([]);
    expect(expectKind(await worker.call({ kind: "Unsubscribe", subscriptionId: 1 }), "Error").code).toBe(8);
  });

  test("a subscriber whose connection closes loses its tasks after the disconnect grace, not before", async () => {
    const [id] = await submitMany("sub-gone", 1);
    const worker = await subscriber("sw-gone", ["sub-gone"], 1);
    expect((await delivery(worker)).tasks.map((t) => t.id)).toEqual([id!]);
    worker.close();
    await eventually(async () => (await broker.app.broker.workers.get("sw-gone")?.disconnectedAtMs) != null, 2000, 5);
    await tickedAt(broker, clock, clock.now() + 4000);
    expect((await status(producer, id!)).status).toBe("in_progress");
    await tickedAt(broker, clock, clock.now() + 2000);
    await eventually(async () => (await status(producer, id!)).status === "pending", 2000, 10);
  });

  test("bad input: credits out of range, a 17th subscription, a producer key", async () => {
    const conn = await connect();
    const zero = await conn.call({ kind: "Subscribe", subscriptionId: 1, queues: [], credits: 0 });
    expect(expectKind(zero, "Error")).toMatchObject({ code: 4, field: "credits" });
    const over = await conn.call({ kind: "Subscribe", subscriptionId: 1, queues: [], credits: 10_001 });
    expect(expectKind(over, "Error")).toMatchObject({ code: 4, field: "credits" });
    for (let i = 1; i <= 16; i++) expectKind(await conn.call({ kind: "Subscribe", subscriptionId: i, queues: [`sub-many-${i}`], credits: 1 }), "Ack");
    const seventeenth = await conn.call({ kind: "Subscribe", subscriptionId: 17, queues: ["sub-many-17"], credits: 1 });
    expect(expectKind(seventeenth, "Error")).toMatchObject({ code: 4, field: "subscriptionId" });
    expectKind(await conn.call({ kind: "Unsubscribe", subscriptionId: 16 }), "Ack");
    expectKind(await conn.call({ kind: "Subscribe", subscriptionId: 17, queues: ["sub-many-17"], credits: 1 }), "Ack");
  });
});

/** A client socket that can stop reading: the kernel's buffers fill, then the broker's. */
class PausableConn {
  private readonly decoder = new FrameDecoder();
  readonly frames: Response[] = [];
  private constructor(private readonly socket: Socket<undefined>) {}

  static async connect(port: number): Promise<PausableConn> {
    let conn: PausableConn | null = null;
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, chunk) => conn!.onData(chunk) } });
    conn = new PausableConn(socket);
    return conn;
  }

  send(request: Parameters<typeof encodeRequest>[0]): void {
    this.socket.write(encodeRequest(request));
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.end();
  }

  delivered(): number {
    return this.frames.reduce((n, f) => n + (f.kind === "Delivery" ? f.tasks.length : 0), 0);
  }

  private onData(chunk: Uint8Array): void {
    this.decoder.push(chunk);
    for (const frame of this.decoder) this.frames.push(decodeResponse(frame.type, frame.body));
  }
}

describe("backpressure", () => {
  test("a subscriber that stops reading is sent no more than its socket and outbound buffer hold; others are served meanwhile", async () => {
    const TASKS = 60;
    const payload = new Uint8Array(1024 * 1024).fill(0x61);
    // The SDK client writes frames of megabytes whole (a raw socket write may take part of one).
    const client = new Client({ url: `tq://127.0.0.1:${broker.port}`, env: {} });
    const ids = (await client.submitMany(Array.from({ length: TASKS }, () => ({ type: "big", payload, queue: "sub-slow" })))).map((o) => o.id);
    await client.close();
    const slow = await PausableConn.connect(broker.port);
    try {
      slow.pause();
      slow.send({ kind: "Subscribe", requestId: 1, subscriptionId: 1, queues: ["sub-slow"], credits: TASKS });
      // Delivered (leased) tasks stop growing well before the credits run out.
      let leased = -1;
      for (let i = 0; i < 100; i++) {
        await sleep(30);
        const queues = (await stats(producer)).tasks.queues as { queue: string; inProgress: number }[];
        const now = queues.find((q) => q.queue === "sub-slow")?.inProgress ?? 0;
        if (now === leased && now > 0) break;
        leased = now;
      }
      expect(leased).toBeGreaterThan(0);
      expect(leased).toBeLessThan(TASKS / 2);
      // The broker serves everyone else meanwhile.
      const other = await subscriber("sw-beside-slow", ["sub-beside-slow"], 1);
      const [id] = await submitMany("sub-beside-slow", 1);
      expect((await delivery(other)).tasks.map((t) => t.id)).toEqual([id!]);
      // Reading again, it gets every task, up to its credits.
      slow.resume();
      await eventually(() => slow.delivered() === TASKS, 20_000, 20);
      expect(new Set(slow.frames.flatMap((f) => (f.kind === "Delivery" ? f.tasks.map((t) => t.id) : [])))).toEqual(new Set(ids));
    } finally {
      slow.close();
    }
  }, 60_000);
});
