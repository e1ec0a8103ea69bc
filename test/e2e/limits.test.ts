// The broker's limits over the socket: QueueFull at queue_depth_threshold (nothing accepted is
// dropped), max_connections, and the idle-connection timeout.
import { afterEach, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, expectKind, sleep, spec, stats, submit } from "../helpers/wire.ts";

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
    await sleep(50);
    const d = await connect();
    expectKind(await d.call({ kind: "Ping" }), "Pong");
  });

  test("a connection that sends nothing is closed after idle_timeout_secs; one that pings stays", async () => {
    broker = await startBroker({ "broker.idle_timeout_secs": 1 });
    const idle = await connect();
    const busy = await connect();
    // Keep pinging until the idle one goes (within about a second: connection-deadlines.test.ts times it).
    for (let i = 0; i < 40 && !idle.closed; i++) {
      await sleep(250);
      expectKind(await busy.call({ kind: "Ping" }), "Pong");
    }
    expect(idle.closed).toBe(true);
    expect(busy.closed).toBe(false);
  });

  test("a connection waiting on a blocking claim is not idle", async () => {
    broker = await startBroker({ "broker.idle_timeout_secs": 1 });
    const waiter = await connect();
    const parked = claim(waiter, { queues: ["slow"], waitMs: 2500 });
    expect(await parked).toEqual([]);
    expect(waiter.closed).toBe(false);
    expect((await stats(waiter)).connections).toBe(1);
  });
});
