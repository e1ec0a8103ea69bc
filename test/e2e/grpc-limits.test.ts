// Protected mode and the per-address limit on the gRPC listener, judged as for a client that is
// not on loopback: the listener's test seam (simulate, as the TCP server has) says which address
// a connection comes from, while every byte stays on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { Authenticator } from "../../src/broker/auth.ts";
import { createLogger } from "../../src/log.ts";
import { startGrpcServer, type GrpcServer, type GrpcServerOptions } from "../../src/grpc/grpc-server.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { GrpcTestClient } from "../helpers/grpc-client.ts";

let broker: TestBroker;
const servers: GrpcServer[] = [];

beforeAll(async () => {
  broker = await startBroker({ "api.grpc_enabled": false });
});

afterAll(async () => {
  for (const s of servers) await s.closeAll(100);
  await broker.stop();
});

async function listener(extra: Partial<GrpcServerOptions>): Promise<GrpcServer> {
  const server = await startGrpcServer(broker.app.broker, {
    host: "127.0.0.1",
    port: 0,
    maxConnections: 100,
    maxConnectionsPerAddress: 100,
    idleTimeoutMs: 30_000,
    auth: new Authenticator(false, []),
    maxAuthFailures: 3,
    serverVersion: "test",
    heartbeatIntervalMs: 15_000,
    defaultLeaseMs: 30_000,
    maxBatchClaim: 10,
    log: createLogger({ level: "error", json: true }),
    ...extra,
  });
  servers.push(server);
  return server;
}

describe("the gRPC listener's admission", () => {
  test("protected mode: auth off, bound beyond loopback, a remote client's calls are PERMISSION_DENIED (ProtectedMode)", async () => {
    const server = await listener({ simulate: { bindHost: "0.0.0.0", remoteAddress: "203.0.113.7" } });
    const c = new GrpcTestClient(server.port);
    try {
      const err = await c.error("Submit", { task: { type: "t" } });
      expect(err.code).toBe(GrpcStatus.PERMISSION_DENIED);
      expect(err.metadata.get("tq-error-name")).toEqual(["ProtectedMode"]);
      expect(err.details).toContain("protected mode");
      expect((await broker.app.broker.stats()).totals.submitted).toBe(0);
    } finally {
      c.close();
    }
  });

  test("the same listener serves a loopback client", async () => {
    const server = await listener({ simulate: { bindHost: "0.0.0.0" } });
    const c = new GrpcTestClient(server.port);
    try {
      expect((await c.call("GetServerInfo")).server_version).toBe("test");
    } finally {
      c.close();
    }
  });

  test("broker.max_connections_per_address: a remote address's connection past the limit is refused", async () => {
    const server = await listener({ maxConnectionsPerAddress: 1, simulate: { remoteAddress: "203.0.113.8" } });
    const first = new GrpcTestClient(server.port);
    const second = new GrpcTestClient(server.port);
    try {
      await first.call("GetServerInfo");
      const err = await second.error("GetServerInfo");
      expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(err.details).toContain("broker.max_connections_per_address");
      expect(server.connectionCount()).toBe(1);
    } finally {
      first.close();
      second.close();
    }
  });
});
