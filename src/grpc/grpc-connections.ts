// The gRPC listener's own socket layer: a node:net (or node:tls, with the one TLS policy of every
// listener) server whose connections are admitted here — broker.max_connections, the per-address
// limit, protected mode — and then handed to grpc-js. Each connection gets a record that calls
// find by their peer address, so a worker id can belong to a connection as it does over TCP.

import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { isProtectedListener, protectedModeError, protectedModeRefuses } from "../broker/protected-mode.ts";
import { AddressLimit } from "../net/address-limit.ts";
import { BrokerError, ErrorCode } from "../protocol/errors.ts";
import type { BunTlsOptions } from "../tls.ts";
import type { BrokerLog } from "../broker/broker.ts";

/**
 * Connection and stream ids start here: the worker registry keys ownership by connection id, and
 * TCP sessions count from 1, so the two doors' ids never meet in it.
 */
const GRPC_ID_BASE = 2 ** 40;
/** A refused connection is closed this long after it was accepted, answered or not. */
const REFUSED_LINGER_MS = 1000;

export interface GrpcConnection {
  readonly id: number;
  readonly remoteAddress: string;
  /** Aborted when the connection closes: parked claims and result waits of its calls stop. */
  readonly closed: AbortSignal;
  /** Worker ids registered or heard from by unary calls on this connection (disconnected when it closes). */
  readonly workerIds: Set<string>;
  /** The worker a Claim without worker_id is made for (as over TCP without RegisterWorker). */
  readonly defaultWorkerId: string;
  /** Set when the connection was refused at accept: every call on it is answered with it. */
  readonly refused: BrokerError | null;
  /** Calls refused for a missing or wrong key; past auth.max_failures_per_connection it is closed. */
  authFailures: number;
  /** Closes the connection (its calls end UNAVAILABLE on the client side). */
  close(): void;
}

export type GrpcRefusal = "max_connections" | "max_connections_per_address" | "protected_mode";

export interface GrpcConnectionsOptions {
  host: string;
  port: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  authEnabled: boolean;
  /** The one TLS policy of every listener; the ALPN protocol is h2, as gRPC over TLS needs. */
  tls?: BunTlsOptions;
  log: BrokerLog;
  /** Hands an admitted (or refused, to be answered) connection to grpc-js. */
  inject(socket: Socket): void;
  /** A connection closed: its workers are disconnected (tasks back after the grace unless they return). */
  closed(conn: GrpcConnection): void;
  onRefused?(reason: GrpcRefusal): void;
  /** Test seam, as the TCP server's: judge connections as if bound here and coming from there. */
  simulate?: { bindHost?: string; remoteAddress?: string };
}

export interface GrpcConnections {
  readonly port: number;
  readonly hostname: string;
  /** The record of the connection a call came in on, by grpc-js's getPeer(). */
  byPeer(peer: string): GrpcConnection | undefined;
  /** A fresh id in the gRPC range (for worker streams, which are connections of their own to the broker). */
  nextId(): number;
  count(): number;
  stopAccepting(): void;
  destroyAll(): void;
}

export async function listenGrpc(o: GrpcConnectionsOptions): Promise<GrpcConnections> {
  let nextId = GRPC_ID_BASE;
  let open = 0;
  const byPeer = new Map<string, GrpcConnection>();
  const sockets = new Set<Socket>();
  const perAddress = new AddressLimit(o.maxConnectionsPerAddress);

  const refusalOf = (socket: Socket): { reason: GrpcRefusal; error: BrokerError; key: string | null } | { reason: null; key: string | null } => {
    const remote = o.simulate?.remoteAddress ?? socket.remoteAddress ?? "";
    const bindHost = o.simulate?.bindHost ?? o.host;
    if (open >= o.maxConnections) {
      return { reason: "max_connections", key: null, error: new BrokerError(ErrorCode.TooManyConnections, `the broker is at its connection limit (broker.max_connections = ${o.maxConnections})`, { retryAfterMs: 1000 }) };
    }
    const admitted = perAddress.admit(remote);
    if (admitted === false) {
      return {
        reason: "max_connections_per_address",
        key: null,
        error: new BrokerError(ErrorCode.TooManyConnections, `${remote} is at its connection limit (broker.max_connections_per_address = ${o.maxConnectionsPerAddress})`, { retryAfterMs: 1000 }),
      };
    }
    if (protectedModeRefuses({ bindHost, remoteAddress: remote === "" ? null : remote, authEnabled: o.authEnabled })) {
      perAddress.release(admitted.key);
      return { reason: "protected_mode", key: null, error: protectedModeError(bindHost) };
    }
    return { reason: null, key: admitted.key };
  };

  const accept = (socket: Socket): void => {
    sockets.add(socket);
    socket.setNoDelay(true);
    const id = nextId++;
    const abort = new AbortController();
    const verdict = refusalOf(socket);
    const admitted = verdict.reason === null;
    if (admitted) open++;
    const conn: GrpcConnection = {
      id,
      remoteAddress: socket.remoteAddress ?? "",
      closed: abort.signal,
      workerIds: new Set(),
      defaultWorkerId: `grpc-${id - GRPC_ID_BASE}-${process.pid}`,
      refused: admitted ? null : verdict.error,
      authFailures: 0,
      close: () => socket.destroy(),
    };
    // grpc-js names a call's peer `${remoteAddress}:${remotePort}` of the same socket.
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    byPeer.set(peer, conn);
    socket.once("close", () => {
      if (admitted) open--;
      sockets.delete(socket);
      if (byPeer.get(peer) === conn) byPeer.delete(peer);
      perAddress.release(verdict.key);
      abort.abort();
      o.closed(conn);
    });
    socket.on("error", (err) => o.log.debug("grpc socket error", { err, remote: conn.remoteAddress }));
    if (!admitted) {
      // Answered, not dropped: the client's calls fail with the reason (TCP sends an Error frame).
      o.onRefused?.(verdict.reason);
      setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
    }
    o.inject(socket);
  };

  const server: NetServer = o.tls
    ? createTlsServer({ ...o.tls, ALPNProtocols: ["h2"] }, accept).on("tlsClientError", (err) => o.log.debug("grpc TLS handshake failed", { err }))
    : createNetServer(accept);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => o.log.error("grpc listener error", { err }));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : o.port;
  if (isProtectedListener(o.simulate?.bindHost ?? o.host, o.authEnabled)) {
    o.log.warn("gRPC in protected mode: auth is off and it listens beyond loopback, so only loopback clients are served", { host: o.host, port });
  }
  return {
    port,
    hostname: o.host,
    byPeer: (peer) => byPeer.get(peer),
    nextId: () => nextId++,
    count: () => open,
    stopAccepting: () => {
      server.close();
    },
    destroyAll: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}
