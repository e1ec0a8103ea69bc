// The broker's limits over the socket: QueueFull at queue_depth_threshold (nothing accepted is
// dropped), max_connections, and the idle-connection timeout (on a FakeClock: time moves only
// when the test advances it).
import { afterEach, describe, expect, test } from "bun:test";
import { startBroker, whenParked, type TestBroker } from "../helpers/broker.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, eventually, expectKind, spec, stats, submit } from "../helpers/wire.ts";

let broker: TestBroker | null = null;
const conns: RawConn[] = [];

afterEach(async () => {
  for (const conn of conns.splice(0)) conn.close();
  await broker?.stop();
  broker = null;
});

async function connect(): Promise<RawConn> {
  const conn = await RawConn.connect(broker!.port);
  conns.push(conn);
  return conn;
}

describe("backpressure", () => {
  test("at queue_depth_threshold pending tasks a submit gets QueueFull with a retry hint; draining lets submits in again", async () => {
    broker = await startBroker({ "broker.queue_depth_threshold": 5 });
    const conn = await connect();
    const accepted: string[] = [];
    for (let i = 0; i < 5; i++) accepted.push(await submit(conn, spec(`bp${i}`)));
    const full = expectKind(await conn.call({ kind: "SubmitTask", task: spec("over") }), "Error");
    expect(full.code).toBe(11);
    expect(full.retryAfterMs).toBeGreaterThan(0);
    expect(full.message).toContain("queue_depth_threshold");
    const batch = expectKind(await conn.call({ kind: "SubmitBatch", tasks: [spec("a"), spec("b")] }), "Error");
    expect(batch.code).toBe(11);
    const claimed = await claim(conn, { max: 10 });
    expect(claimed.map((t) => t.id)).toEqual(accepted);
    expect(await submit(conn, spec("after"))).toBeString();
  });
});

describe("connections", () => {
  test("past max_connections a client gets TooManyConnections and is closed; the others keep working", async () => {
    broker = await startBroker({ "broker.max_connections": 2 });
    const a = await connect();
    const b = await connect();
    const c = await connect();
    const refused = expectKind(await c.next(), "Error");
    expect(refused.code).toBe(12);
    expect(refused.message).toContain("max_connections");
    await c.waitClosed();
    expectKind(await a.call({ kind: "Ping" }), "Pong");
    expectKind(await b.call({ kind: "Ping" }), "Pong");
    b.close();
    // The close is an OS event: wait until the broker has seen it and freed the slot.
    await eventually(async () => (await stats(a)).connections === 1, 5000, 5);
    const d = await connect();
    expectKind(await d.call({ kind: "Ping" }), "Pong");
  });

  test("a connection that sends nothing is closed after idle_timeout_secs; one that pings stays", async () => {
    const clock = new FakeClock();
    broker = await startBroker({ "broker.idle_timeout_secs": 30 }, undefined, { clock });
    const idle = await connect();
    const busy = await connect();
    // Pinging every 10 s: the idle one goes at 30 s (connection-deadlines.test.ts times it exactly).
    for (let i = 0; i < 4; i++) {
      clock.advance(10_000);
      expectKind(await busy.call({ kind: "Ping" }), "Pong");
    }
    await idle.waitClosed();
    expect(busy.closed).toBe(false);
  });

  test("a connection waiting on a blocking claim is not idle", async () => {
    const clock = new FakeClock();
    broker = await startBroker({ "broker.idle_timeout_secs": 30 }, undefined, { clock });
    const waiter = await connect();
    const parked = claim(waiter, { queues: ["slow"], waitMs: 75_000 });
    await whenParked(broker, 1);
    clock.advance(75_000);
    expect(await parked).toEqual([]);
    expect(waiter.closed).toBe(false);
    expect((await stats(waiter)).connections).toBe(1);
  });
});
