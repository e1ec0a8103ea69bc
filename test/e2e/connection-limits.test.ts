// Admission over a real socket: broker.max_connections_per_address (a remote address past its
// limit gets TooManyConnections naming the key; loopback is exempt; 0 is off), and
// tq_connections_refused_total counting refusals by reason on /metrics.
// Tests may use only loopback, so the listener is told which address the client comes from.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Authenticator } from "../../src/broker/auth.ts";
import { startTcpServer, type ConnectionRefusal, type TcpServer } from "../../src/net/tcp-server.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { eventually, expectKind } from "../helpers/wire.ts";

let broker: TestBroker;
const servers: TcpServer[] = [];
const conns: RawConn[] = [];

function listen(remoteAddress: string, maxPerAddress: number, refusals: ConnectionRefusal[]): TcpServer {
  const server = startTcpServer(broker.app.broker, {
    host: "127.0.0.1",
    port: 0,
    maxConnections: 50,
    maxConnectionsPerAddress: maxPerAddress,
    idleTimeoutMs: 30_000,
    maxOutboundBytes: 64 * 1024,
    // Auth on, so that a remote address is not refused by protected mode first.
    auth: new Authenticator(true, [{ name: "k", role: "admin", key: "0123456789abcdef0123" }]),
    maxAuthFailures: 3,
    serverVersion: "test",
    heartbeatIntervalMs: 15_000,
    defaultLeaseMs: 30_000,
    maxBatchClaim: 10,
    log: { debug() {}, info() {}, warn() {}, error() {} },
    onConnectionRefused: (reason) => refusals.push(reason),
    simulate: { bindHost: "0.0.0.0", remoteAddress },
  });
  servers.push(server);
  return server;
}

async function connect(port: number): Promise<RawConn> {
  const conn = await RawConn.connect(port);
  conns.push(conn);
  return conn;
}

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  for (const conn of conns) conn.close();
  for (const server of servers) await server.closeAll(1000);
  await broker.stop();
});

describe("max_connections_per_address", () => {
  test("past the limit a remote address gets TooManyConnections naming the key and is closed; a slot freed is taken again", async () => {
    const refusals: ConnectionRefusal[] = [];
    const server = listen("203.0.113.7", 3, refusals);
    const held = [await connect(server.port), await connect(server.port), await connect(server.port)];
    for (const conn of held) expectKind(await conn.call({ kind: "Ping" }), "Pong");
    const extra = await connect(server.port);
    const error = expectKind(await extra.next(), "Error");
    expect(error.code).toBe(12);
    expect(error.requestId).toBe(0);
    expect(error.message).toContain("203.0.113.7");
    expect(error.message).toContain("broker.max_connections_per_address = 3");
    await extra.waitClosed();
    expect(refusals).toEqual(["max_connections_per_address"]);
    held[0]!.close();
    await held[0]!.waitClosed();
    // The close is an OS event: wait until the server has seen it and freed the slot.
    await eventually(() => server.connectionCount() === 2, 5000, 5);
    const again = await connect(server.port);
    expectKind(await again.call({ kind: "Ping" }), "Pong");
  });

  test("loopback clients are not limited", async () => {
    const refusals: ConnectionRefusal[] = [];
    const server = listen("127.0.0.1", 1, refusals);
    const many = [];
    for (let i = 0; i < 5; i++) many.push(await connect(server.port));
    for (const conn of many) expectKind(await conn.call({ kind: "Ping" }), "Pong");
    expect(refusals).toEqual([]);
  });

  test("0 turns the limit off", async () => {
    const refusals: ConnectionRefusal[] = [];
    const server = listen("198.51.100.4", 0, refusals);
    const many = [];
    for (let i = 0; i < 5; i++) many.push(await connect(server.port));
    for (const conn of many) expectKind(await conn.call({ kind: "Ping" }), "Pong");
    expect(refusals).toEqual([]);
  });
});

describe("tq_connections_refused_total", () => {
  test("counts refusals at max_connections and connections cut by the frame deadline, by reason", async () => {
    const app = await startBroker({ "broker.max_connections": 1, "broker.frame_timeout_secs": 1 });
    try {
      const first = await RawConn.connect(app.port);
      const refused = await RawConn.connect(app.port);
      expectKind(await refused.next(), "Error");
      await refused.waitClosed();
      // The one admitted client starts a frame and never finishes it.
      first.sendBytes(new Uint8Array([0x00, 0x00, 0x10, 0x00, 0x02, 0x01]));
      expectKind(await first.next(3000), "Error");
      await first.waitClosed();
      const text = await (await fetch(`http://127.0.0.1:${app.metricsPort}/metrics`)).text();
      expect(text).toContain('tq_connections_refused_total{reason="max_connections"} 1');
      expect(text).toContain('tq_connections_refused_total{reason="frame_timeout"} 1');
    } finally {
      await app.stop();
    }
  });
});
