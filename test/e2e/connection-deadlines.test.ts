// The connection deadlines over a real socket: the idle timeout within a second of its setting,
// a frame begun and not finished (broker.frame_timeout_secs), no successful Hello with auth on
// (broker.auth_timeout_secs): what the client is sent, when it is closed, and what is not closed.
import { afterEach, describe, expect, test } from "bun:test";
import { encodeRequest } from "../../src/protocol/frame-writer.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, expectKind, sleep } from "../helpers/wire.ts";

const KEY = "deadline-test-key-0123456789";
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

/** Seconds from now until the broker closes `conn` (bounded by `maxMs`). */
async function secondsUntilClosed(conn: RawConn, startedAt: number, maxMs: number): Promise<number> {
  await conn.waitClosed(maxMs);
  return (performance.now() - startedAt) / 1000;
}

function withAuth(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { "auth.enabled": true, "auth.api_keys": [{ name: "t", role: "admin", key: KEY }], ...overrides };
}

describe("idle timeout", () => {
  test("idle_timeout_secs: 2 closes a silent connection between 2.0 and 3.0 s after its last byte", async () => {
    broker = await startBroker({ "broker.idle_timeout_secs": 2 });
    const conn = await connect();
    // Timed from before the Ping is sent: the broker's last read comes after this instant.
    const beforeLastByte = performance.now();
    expectKind(await conn.call({ kind: "Ping" }), "Pong");
    const seconds = await secondsUntilClosed(conn, beforeLastByte, 6000);
    console.log(`idle_timeout_secs 2: closed after ${seconds.toFixed(3)} s`);
    expect(seconds).toBeGreaterThanOrEqual(2);
    expect(seconds).toBeLessThan(3);
  });

  test("traffic moves the deadline: a client pinging every 0.5 s outlives a 1 s idle timeout, then closes within 1 s of stopping", async () => {
    broker = await startBroker({ "broker.idle_timeout_secs": 1 });
    const conn = await connect();
    for (let i = 0; i < 6; i++) {
      expectKind(await conn.call({ kind: "Ping" }), "Pong");
      await sleep(500);
    }
    expect(conn.closed).toBe(false);
    const seconds = await secondsUntilClosed(conn, performance.now() - 500, 4000);
    expect(seconds).toBeLessThan(2);
  });

  test("the idle clock starts when a long wait ends: a 1.5 s blocking claim under a 1 s timeout is answered, then the silence counts", async () => {
    broker = await startBroker({ "broker.idle_timeout_secs": 1 });
    const conn = await connect();
    expect(await claim(conn, { queues: ["none"], waitMs: 1500 })).toEqual([]);
    const answered = performance.now();
    expect(conn.closed).toBe(false);
    const seconds = await secondsUntilClosed(conn, answered, 4000);
    expect(seconds).toBeGreaterThanOrEqual(0.9);
    expect(seconds).toBeLessThan(2);
  });
});

describe("frame deadline", () => {
  test("a frame trickled a byte at a time past frame_timeout_secs gets Timeout (id 0) and is closed", async () => {
    broker = await startBroker({ "broker.frame_timeout_secs": 1, "broker.idle_timeout_secs": 30 });
    const conn = await connect();
    const other = await connect();
    // An 8 MiB SubmitTask announced, then a byte every 200 ms: never idle, never finished.
    conn.sendBytes(new Uint8Array([0x00, 0x80, 0x00, 0x00, 0x02]));
    const started = performance.now();
    for (let i = 0; i < 20 && !conn.closed; i++) {
      await sleep(200);
      if (!conn.closed) conn.sendBytes(new Uint8Array([0x07]));
    }
    const error = expectKind(await conn.next(1000), "Error");
    expect(error.code).toBe(16);
    expect(error.requestId).toBe(0);
    expect(error.message).toContain("broker.frame_timeout_secs");
    const seconds = await secondsUntilClosed(conn, started, 1000);
    expect(seconds).toBeGreaterThanOrEqual(0.95);
    expect(seconds).toBeLessThan(2.5);
    expectKind(await other.call({ kind: "Ping" }), "Pong");
  });

  test("a frame finished in time is served, however slowly its bytes came, and the next frame gets its own deadline", async () => {
    broker = await startBroker({ "broker.frame_timeout_secs": 1 });
    const conn = await connect();
    const ping = encodeRequest({ kind: "Ping", requestId: 41 });
    for (let round = 0; round < 3; round++) {
      for (const byte of ping) {
        conn.sendBytes(new Uint8Array([byte]));
        await sleep(70);
      }
      expectKind(await conn.next(2000), "Pong");
    }
    expect(conn.closed).toBe(false);
  });
});

describe("auth deadline", () => {
  test("with auth on, a client that only pings and never sends Hello gets Unauthorized (id 0) after auth_timeout_secs and is closed", async () => {
    broker = await startBroker(withAuth({ "broker.auth_timeout_secs": 1, "broker.idle_timeout_secs": 30 }));
    const pinger = await connect();
    const started = performance.now();
    let pongs = 0;
    for (let i = 0; i < 20 && !pinger.closed; i++) {
      const reply = await pinger.call({ kind: "Ping" }, 2000).catch(() => null);
      if (reply?.kind === "Pong") pongs++;
      else break;
      await sleep(150);
    }
    expect(pongs).toBeGreaterThan(0);
    const error = expectKind(await pinger.next(1000), "Error");
    expect(error.code).toBe(6);
    expect(error.requestId).toBe(0);
    expect(error.message).toContain("broker.auth_timeout_secs");
    const seconds = await secondsUntilClosed(pinger, started, 1000);
    expect(seconds).toBeGreaterThanOrEqual(0.95);
    expect(seconds).toBeLessThan(2.5);
  });

  test("a client that authenticated in time is not closed by it", async () => {
    broker = await startBroker(withAuth({ "broker.auth_timeout_secs": 1 }));
    const conn = await connect();
    expectKind(await conn.call({ kind: "Hello", version: 1, apiKey: KEY, clientName: "t" }), "HelloOk");
    await sleep(1500);
    expectKind(await conn.call({ kind: "Ping" }), "Pong");
    expect(conn.closed).toBe(false);
  });

  test("with auth off there is no auth deadline: Hello is optional", async () => {
    broker = await startBroker({ "broker.auth_timeout_secs": 1 });
    const conn = await connect();
    for (let i = 0; i < 4; i++) {
      expectKind(await conn.call({ kind: "Ping" }), "Pong");
      await sleep(400);
    }
    expect(conn.closed).toBe(false);
  });
});
