// Blocking claims: a waiting worker is woken by a new task, waiters are served first come first
// served, a wait that runs out answers empty, and a closed connection's wait is dropped. The
// broker runs on a FakeClock: a wait runs out only when the test advances it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, whenParked, type TestBroker } from "../helpers/broker.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, eventually, expectKind, spec, stats, submit } from "../helpers/wire.ts";

const clock = new FakeClock();
let broker: TestBroker;
const conns: RawConn[] = [];

async function connect(): Promise<RawConn> {
  const conn = await RawConn.connect(broker.port);
  conns.push(conn);
  return conn;
}

beforeAll(async () => {
  broker = await startBroker({}, undefined, { clock });
});

afterAll(async () => {
  for (const conn of conns) conn.close();
  await broker.stop();
});

describe("blocking claim", () => {
  test("a parked claim is answered as soon as a task is submitted", async () => {
    const worker = await connect();
    const producer = await connect();
    const waiting = claim(worker, { queues: ["wake"], waitMs: 10_000 });
    await whenParked(broker, 1);
    const startedMs = clock.now();
    const id = await submit(producer, spec("wake", { queue: "wake" }));
    const [task] = await waiting;
    expect(task?.id).toBe(id);
    // Woken by the submit, not by the end of the 10 s wait: the clock did not move.
    expect(clock.now()).toBe(startedMs);
  });

  test("waiting workers are served in the order they started waiting", async () => {
    const producer = await connect();
    const workers = [await connect(), await connect(), await connect()];
    const claims: Promise<Awaited<ReturnType<typeof claim>>>[] = [];
    for (const [i, worker] of workers.entries()) {
      claims.push(claim(worker, { queues: ["fair"], waitMs: 10_000 }));
      await whenParked(broker, i + 1);
    }
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(await submit(producer, spec(`fair${i}`, { queue: "fair" })));
      await eventually(async () => (await broker.app.broker.stats()).parkedClaims === 2 - i, 5000, 2);
    }
    const got = (await Promise.all(claims)).map((tasks) => tasks[0]?.id);
    expect(got).toEqual(ids);
  });

  test("a wait that runs out is answered with no tasks, when it runs out and not before", async () => {
    const worker = await connect();
    let answered = false;
    const tasks = claim(worker, { queues: ["empty"], waitMs: 30_000 }).finally(() => (answered = true));
    await whenParked(broker, 1);
    clock.advance(29_999);
    // A reply written before the Pong would arrive before it: none came, so the claim still waits.
    expectKind(await worker.call({ kind: "Ping" }), "Pong");
    expect(answered).toBe(false);
    clock.advance(1);
    expect(await tasks).toEqual([]);
  });

  test("a closed connection's parked claim does not swallow a task", async () => {
    const quitter = await connect();
    quitter.send({ kind: "ClaimTask", queues: ["drop"], max: 1, waitMs: 10_000 });
    await whenParked(broker, 1);
    quitter.close();
    // The close is an OS event: wait until the broker has seen it and dropped the wait.
    await eventually(async () => (await broker.app.broker.stats()).parkedClaims === 0, 5000, 2);
    const producer = await connect();
    const id = await submit(producer, spec("drop", { queue: "drop" }));
    const [task] = await claim(producer, { queues: ["drop"], waitMs: 1000 });
    expect(task?.id).toBe(id);
  });

  test("a claim parked on one queue does not hold up non-blocking claims on another", async () => {
    const idler = await connect();
    const parked = claim(idler, { queues: ["idle-q"], waitMs: 10_000 });
    await whenParked(broker, 1);
    expect((await stats(idler)).parkedClaims).toBe(1);
    const producer = await connect();
    const ids = [await submit(producer, spec("b0", { queue: "busy-q" })), await submit(producer, spec("b1", { queue: "busy-q" }))];
    const worker = await connect();
    const got: string[] = [];
    for (let i = 0; i < 2; i++) got.push(...(await claim(worker, { queues: ["busy-q"], waitMs: 0 })).map((t) => t.id));
    expect(got).toEqual(ids);
    // The parked claim is still waiting for its own queue.
    const idleId = await submit(producer, spec("i0", { queue: "idle-q" }));
    expect((await parked).map((t) => t.id)).toEqual([idleId]);
  });

  test("a parked claim is served before a new claim on the same queue", async () => {
    const first = await connect();
    const parked = claim(first, { queues: ["race-q"], waitMs: 10_000 });
    await whenParked(broker, 1);
    // Pipelined on one connection: the claim is handled while the submit's commit is still open,
    // when the task is already claimable; it must still go to the claim that was waiting.
    const late = await connect();
    const submitId = late.send({ kind: "SubmitTask", task: spec("race", { queue: "race-q" }) });
    const claimId = late.send({ kind: "ClaimTask", queues: ["race-q"], max: 1, waitMs: 0 });
    const submitted = expectKind(await late.waitFor((r) => r.requestId === submitId), "Submitted");
    const lateClaim = expectKind(await late.waitFor((r) => r.requestId === claimId), "Claimed");
    expect(lateClaim.tasks).toEqual([]);
    expect((await parked).map((t) => t.id)).toEqual([submitted.id]);
  });

  test("other requests on the same connection are answered while a claim is parked", async () => {
    const conn = await connect();
    const parked = claim(conn, { queues: ["side"], waitMs: 2000 });
    const pong = await conn.call({ kind: "Ping" });
    expectKind(pong, "Pong");
    expect((await stats(conn)).parkedClaims).toBeGreaterThanOrEqual(1);
    await submit(conn, spec("side", { queue: "side" }));
    expect((await parked).length).toBe(1);
  });
});
