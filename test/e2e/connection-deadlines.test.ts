// The connection deadlines over a real socket: the idle timeout, a frame begun and not finished
// (broker.frame_timeout_secs), no successful Hello with auth on (broker.auth_timeout_secs): what
// the client is sent, when it is closed, and what is not closed. The broker runs on a FakeClock,
// so each deadline is checked to the millisecond: open a millisecond before it, closed at it. The
// broker's decision is read from its debug log line, written the moment the deadline fires.
import { afterEach, describe, expect, test } from "bun:test";
import { encodeRequest } from "../../src/protocol/frame-writer.ts";
import { startBroker, whenParked, type TestBroker } from "../helpers/broker.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, eventually, expectKind } from "../helpers/wire.ts";

const KEY = "deadline-test-key-0123456789";
let broker: TestBroker | null = null;
let clock: FakeClock;
let logLines: string[] = [];
const conns: RawConn[] = [];

afterEach(async () => {
  for (const conn of conns.splice(0)) conn.close();
  await broker?.stop();
  broker = null;
});

async function start(overrides: Record<string, unknown>): Promise<TestBroker> {
  clock = new FakeClock();
  logLines = [];
  broker = await startBroker({ "monitoring.log_level": "debug", ...overrides }, undefined, { clock, logSink: (line) => logLines.push(line) });
  return broker;
}

async function connect(): Promise<RawConn> {
  const conn = await RawConn.connect(broker!.port);
  conns.push(conn);
  return conn;
}

/** How many connections the broker has closed for `why` so far (its debug log, written synchronously). */
function closedFor(why: "idle" | "frame" | "auth"): number {
  const msg = { idle: "idle connection closed", frame: "connection closed: frame not finished in time", auth: "connection closed: no successful Hello in time" }[why];
  return logLines.filter((line) => (JSON.parse(line) as { msg: string }).msg === msg).length;
}

function withAuth(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { "auth.enabled": true, "auth.api_keys": [{ name: "t", role: "admin", key: KEY }], ...overrides };
}

describe("idle timeout", () => {
  test("idle_timeout_secs: 30 leaves a silent connection open 29.999 s after its last byte and closes it at 30 s", async () => {
    await start({ "broker.idle_timeout_secs": 30 });
    const conn = await connect();
    expectKind(await conn.call({ kind: "Ping" }), "Pong");
    clock.advance(29_999);
    expect(closedFor("idle")).toBe(0);
    // Still served: the answer moves the deadline to 30 s from now.
    expectKind(await conn.call({ kind: "Ping" }), "Pong");
    clock.advance(29_999);
    expect(closedFor("idle")).toBe(0);
    clock.advance(1);
    expect(closedFor("idle")).toBe(1);
    await conn.waitClosed();
  });

  test("traffic moves the deadline: a client pinging every 15 s outlives a 30 s idle timeout, then closes 30 s after it stops", async () => {
    await start({ "broker.idle_timeout_secs": 30 });
    const conn = await connect();
    for (let i = 0; i < 6; i++) {
      expectKind(await conn.call({ kind: "Ping" }), "Pong");
      clock.advance(15_000);
    }
    expect(closedFor("idle")).toBe(0);
    expect(conn.closed).toBe(false);
    clock.advance(14_999);
    expect(closedFor("idle")).toBe(0);
    clock.advance(1);
    expect(closedFor("idle")).toBe(1);
    await conn.waitClosed();
  });

  test("the idle clock starts when a long wait ends: a 45 s blocking claim under a 30 s timeout is answered, then the silence counts", async () => {
    await start({ "broker.idle_timeout_secs": 30 });
    const conn = await connect();
    const waiting = claim(conn, { queues: ["none"], waitMs: 45_000 });
    await whenParked(broker!, 1);
    clock.advance(44_999);
    expect(closedFor("idle")).toBe(0);
    clock.advance(1);
    expect(await waiting).toEqual([]);
    clock.advance(29_999);
    expect(closedFor("idle")).toBe(0);
    expect(conn.closed).toBe(false);
    clock.advance(1);
    expect(closedFor("idle")).toBe(1);
    await conn.waitClosed();
  });
});

describe("frame deadline", () => {
  test("a frame trickled a byte at a time past frame_timeout_secs gets Timeout (id 0) at the deadline and is closed", async () => {
    await start({ "broker.frame_timeout_secs": 10, "broker.idle_timeout_secs": 30 });
    const conn = await connect();
    const other = await connect();
    // An 8 MiB SubmitTask announced, then a byte every 2 s: never idle, never finished.
    // The deadline runs from the moment the broker read the first bytes: wait until it armed it
    // (other timers may be due in 10 s too, such as the dashboard's activity sampler: count them).
    const armedAt10s = (): number => clock.armedIn().filter((ms) => ms === 10_000).length;
    const before = armedAt10s();
    conn.sendBytes(new Uint8Array([0x00, 0x80, 0x00, 0x00, 0x02]));
    await eventually(() => armedAt10s() > before, 5000, 2);
    for (let i = 0; i < 4; i++) {
      clock.advance(2000);
      conn.sendBytes(new Uint8Array([0x07]));
    }
    clock.advance(1999);
    expect(closedFor("frame")).toBe(0);
    expect(conn.closed).toBe(false);
    clock.advance(1);
    expect(closedFor("frame")).toBe(1);
    const error = expectKind(await conn.next(5000), "Error");
    expect(error.code).toBe(16);
    expect(error.requestId).toBe(0);
    expect(error.message).toContain("broker.frame_timeout_secs");
    await conn.waitClosed();
    expectKind(await other.call({ kind: "Ping" }), "Pong");
  });

  test("a frame finished in time is served, however slowly its bytes came, and the next frame gets its own deadline", async () => {
    await start({ "broker.frame_timeout_secs": 10 });
    const conn = await connect();
    const ping = encodeRequest({ kind: "Ping", requestId: 41 });
    // Three frames of 9 bytes, a byte a second: 27 s in all, each frame within its own 10 s.
    for (let round = 0; round < 3; round++) {
      for (const [i, byte] of ping.entries()) {
        if (i > 0) clock.advance(1000);
        conn.sendBytes(new Uint8Array([byte]));
      }
      expectKind(await conn.next(5000), "Pong");
    }
    expect(closedFor("frame")).toBe(0);
    expect(conn.closed).toBe(false);
  });
});

describe("auth deadline", () => {
  test("with auth on, a client that only pings and never sends Hello gets Unauthorized (id 0) at auth_timeout_secs and is closed", async () => {
    await start(withAuth({ "broker.auth_timeout_secs": 10, "broker.idle_timeout_secs": 30 }));
    const pinger = await connect();
    // Pings before Hello are served, and being busy is no excuse: the deadline runs from the connect.
    for (let i = 0; i < 3; i++) {
      expectKind(await pinger.call({ kind: "Ping" }), "Pong");
      clock.advance(3000);
    }
    expectKind(await pinger.call({ kind: "Ping" }), "Pong");
    clock.advance(999);
    expect(closedFor("auth")).toBe(0);
    clock.advance(1);
    expect(closedFor("auth")).toBe(1);
    const error = expectKind(await pinger.next(5000), "Error");
    expect(error.code).toBe(6);
    expect(error.requestId).toBe(0);
    expect(error.message).toContain("broker.auth_timeout_secs");
    await pinger.waitClosed();
  });

  test("a client that authenticated in time is not closed by it", async () => {
    await start(withAuth({ "broker.auth_timeout_secs": 10 }));
    const conn = await connect();
    expectKind(await conn.call({ kind: "Hello", version: 1, apiKey: KEY, clientName: "t" }), "HelloOk");
    clock.advance(15_000);
    expectKind(await conn.call({ kind: "Ping" }), "Pong");
    expect(closedFor("auth")).toBe(0);
    expect(conn.closed).toBe(false);
  });

  test("with auth off there is no auth deadline: Hello is optional", async () => {
    await start({ "broker.auth_timeout_secs": 10 });
    const conn = await connect();
    for (let i = 0; i < 4; i++) {
      expectKind(await conn.call({ kind: "Ping" }), "Pong");
      clock.advance(4000);
    }
    expectKind(await conn.call({ kind: "Ping" }), "Pong");
    expect(closedFor("auth")).toBe(0);
    expect(conn.closed).toBe(false);
  });
});
