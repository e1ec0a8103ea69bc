// Protected mode and the per-address limit on the gRPC listener, judged as for a client that is
// not on loopback: the listener's test seam (simulate, as the TCP server has) says which address
// a connection comes from, while every byte stays on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { Authenticator } from "../../src/broker/auth.ts";
import { createLogger } from "../../src/log.ts";
import { connect as netConnect } from "node:net";
import { CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES, startGrpcServer, type GrpcServer, type GrpcServerOptions } from "../../src/grpc/grpc-server.ts";
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

  test("broker.max_connections: the connection past the limit is refused, and counted by its reason", async () => {
    const refused: string[] = [];
    const server = await listener({ maxConnections: 1, onConnectionRefused: (reason) => refused.push(reason) });
    const first = new GrpcTestClient(server.port);
    const second = new GrpcTestClient(server.port);
    try {
      await first.call("GetServerInfo");
      const err = await second.error("GetServerInfo");
      expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(err.metadata.get("tq-error-name")).toEqual(["TooManyConnections"]);
      expect(err.details).toContain("broker.max_connections");
      expect(refused).toEqual(["max_connections"]);
      expect(server.connectionCount()).toBe(1);
    } finally {
      first.close();
      second.close();
    }
  });
});

/** The frames an HTTP/2 server sends a client that sent only the preface and empty SETTINGS, until `enough`. */
async function serverFrames(port: number, enough: (frames: { type: number; stream: number; payload: Buffer }[]) => boolean): Promise<{ type: number; stream: number; payload: Buffer }[]> {
  const socket = netConnect(port, "127.0.0.1");
  const frames: { type: number; stream: number; payload: Buffer }[] = [];
  let pending = Buffer.alloc(0);
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not enough frames in 5 s: ${JSON.stringify(frames.map((f) => f.type))}`)), 5000);
      socket.on("error", reject);
      socket.on("connect", () => socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])])));
      socket.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
          const length = pending.readUIntBE(0, 3);
          frames.push({ type: pending[3]!, stream: pending.readUInt32BE(5) & 0x7fffffff, payload: pending.subarray(9, 9 + length) });
          pending = pending.subarray(9 + length);
        }
        if (enough(frames)) {
          clearTimeout(timer);
          resolve(frames);
        }
      });
    });
  } finally {
    socket.destroy();
  }
}

describe("the gRPC listener's HTTP/2 windows", () => {
  test("the broker's settings give each call's stream 1 MiB, and a WINDOW_UPDATE widens the connection to 16 MiB", async () => {
    const server = await listener({});
    const SETTINGS = 4;
    const WINDOW_UPDATE = 8;
    const frames = await serverFrames(server.port, (fs) => fs.some((f) => f.type === SETTINGS && f.payload.length > 0) && fs.some((f) => f.type === WINDOW_UPDATE && f.stream === 0));
    const settings = frames.find((f) => f.type === SETTINGS && f.payload.length > 0)!.payload;
    const values = new Map<number, number>();
    for (let at = 0; at + 6 <= settings.length; at += 6) values.set(settings.readUInt16BE(at), settings.readUInt32BE(at + 2));
    const SETTINGS_INITIAL_WINDOW_SIZE = 4;
    expect(values.get(SETTINGS_INITIAL_WINDOW_SIZE)).toBe(STREAM_WINDOW_BYTES);
    expect(STREAM_WINDOW_BYTES).toBe(1 << 20);
    const update = frames.find((f) => f.type === WINDOW_UPDATE && f.stream === 0)!.payload.readUInt32BE(0) & 0x7fffffff;
    // The connection starts at the protocol's 65,535 bytes; the update brings it to the broker's window.
    expect(65_535 + update).toBe(CONNECTION_WINDOW_BYTES);
    expect(CONNECTION_WINDOW_BYTES).toBe(16 * 1024 * 1024);
  });
});
