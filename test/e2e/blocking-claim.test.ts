// Blocking claims: a waiting worker is woken by a new task, waiters are served first come first
// served, a wait that runs out answers empty, and a closed connection's wait is dropped.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, expectKind, sleep, spec, stats, submit } from "../helpers/wire.ts";

let broker: TestBroker;
const conns: RawConn[] = [];

async function connect(): Promise<RawConn> {
  const conn = await RawConn.connect(broker.port);
  conns.push(conn);
  return conn;
}

beforeAll(async () => {
  broker = await startBroker();
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
    await sleep(50);
    const startedMs = Date.now();
    const id = await submit(producer, spec("wake", { queue: "wake" }));
    const [task] = await waiting;
    expect(task?.id).toBe(id);
    // Woken by the submit, not by the end of the 10 s wait.
    expect(Date.now() - startedMs).toBeLessThan(5000);
  });

  test("waiting workers are served in the order they started waiting", async () => {
    const producer = await connect();
    const workers = [await connect(), await connect(), await connect()];
    const claims: Promise<Awaited<ReturnType<typeof claim>>>[] = [];
    for (const worker of workers) {
      claims.push(claim(worker, { queues: ["fair"], waitMs: 10_000 }));
      await sleep(30);
    }
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(await submit(producer, spec(`fair${i}`, { queue: "fair" })));
      await sleep(30);
    }
    const got = (await Promise.all(claims)).map((tasks) => tasks[0]?.id);
    expect(got).toEqual(ids);
  });

  test("a wait that runs out is answered with no tasks", async () => {
    const worker = await connect();
    const tasks = await claim(worker, { queues: ["empty"], waitMs: 150 });
    expect(tasks).toEqual([]);
  });

  test("a closed connection's parked claim does not swallow a task", async () => {
    const quitter = await connect();
    quitter.send({ kind: "ClaimTask", queues: ["drop"], max: 1, waitMs: 10_000 });
    await sleep(50);
    quitter.close();
    await sleep(50);
    const producer = await connect();
    const id = await submit(producer, spec("drop", { queue: "drop" }));
    const [task] = await claim(producer, { queues: ["drop"], waitMs: 1000 });
    expect(task?.id).toBe(id);
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
