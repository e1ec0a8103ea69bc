// Protected mode on the TCP protocol: with auth off and a bind beyond loopback, a client from
// elsewhere gets ProtectedMode (telling how to enable auth) and is closed; loopback clients work.
// Tests may bind only loopback, so the listener is told to judge as if bound to 0.0.0.0.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Authenticator } from "../../src/broker/auth.ts";
import { startTcpServer, type TcpServer } from "../../src/net/tcp-server.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { expectKind } from "../helpers/wire.ts";

let broker: TestBroker;
const servers: TcpServer[] = [];

function listen(simulate: { bindHost?: string; remoteAddress?: string }, authEnabled = false): TcpServer {
  const server = startTcpServer(broker.app.broker, {
    host: "127.0.0.1",
    port: 0,
    maxConnections: 10,
    idleTimeoutMs: 30_000,
    maxOutboundBytes: 1 << 20,
    auth: new Authenticator(authEnabled, authEnabled ? [{ name: "k", role: "admin", key: "0123456789abcdef0123" }] : []),
    maxAuthFailures: 3,
    serverVersion: "test",
    heartbeatIntervalMs: 15_000,
    defaultLeaseMs: 30_000,
    maxBatchClaim: 10,
    log: { debug() {}, info() {}, warn() {}, error() {} },
    simulate,
  });
  servers.push(server);
  return server;
}

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  for (const server of servers) await server.closeAll(0);
  await broker.stop();
});

describe("protected mode on TCP", () => {
  test("a remote client of a 0.0.0.0 listener with auth off is refused with how to fix it", async () => {
    const server = listen({ bindHost: "0.0.0.0", remoteAddress: "203.0.113.9" });
    const conn = await RawConn.connect(server.port);
    const error = expectKind(await conn.next(), "Error");
    expect(error.code).toBe(15);
    expect(error.message).toContain("auth.enabled");
    await conn.waitClosed();
  });

  test("a loopback client of the same listener is served", async () => {
    const server = listen({ bindHost: "0.0.0.0", remoteAddress: "127.0.0.1" });
    const conn = await RawConn.connect(server.port);
    expectKind(await conn.call({ kind: "Ping" }), "Pong");
    conn.close();
  });

  test("with auth on, remote clients are let in to authenticate", async () => {
    const server = listen({ bindHost: "0.0.0.0", remoteAddress: "203.0.113.9" }, true);
    const conn = await RawConn.connect(server.port);
    expectKind(await conn.call({ kind: "Hello", version: 1, apiKey: "0123456789abcdef0123", clientName: "t" }), "HelloOk");
    conn.close();
  });
});
