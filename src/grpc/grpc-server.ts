// The gRPC front door on api.grpc_port: grpc-js over HTTP/2 (node:http2), fed the connections
// grpc-connections.ts admitted. Every call is checked the same way — the connection's refusal,
// shutdown, the `authorization: Bearer` key, the role — then carried out by the unary route table
// (broker-service.ts) or the worker stream (work-stream.ts). Also serves grpc.health.v1 and
// server reflection. Translates only: no queue rules.

import { Server, ServerCredentials, type Metadata, type ServerUnaryCall, type ServiceDefinition, type UntypedServiceImplementation, type sendUnaryData } from "@grpc/grpc-js";
import type { EventEmitter as NodeEventEmitter } from "node:events";
import type { Http2Session } from "node:http2";
import type { Socket } from "node:net";
import { ANONYMOUS_ADMIN, authorize, type Authenticator, type Principal } from "../broker/auth.ts";
import type { Broker, BrokerLog } from "../broker/broker.ts";
import { BrokerError, ErrorCode, toBrokerError } from "../protocol/errors.ts";
import { MAX_FRAME_BYTES } from "../protocol/limits.ts";
import type { BunTlsOptions } from "../tls.ts";
import { UNARY_ROUTES, type CallContext, type ServiceContext, type UnaryRoute } from "./broker-service.ts";
import { listenGrpc, type GrpcConnection, type GrpcRefusal } from "./grpc-connections.ts";
import { grpcStatusName, statusOf } from "./grpc-status.ts";
import { HealthService } from "./health-service.ts";
import { protoDefinitions } from "./proto-files.ts";
import { Reflection } from "./reflection-service.ts";
import { fastBrokerService } from "./fast-service.ts";
import { openWorkStream, type WorkStreams } from "./work-stream.ts";

/** Calls one connection may have open at once: the TCP door works on at most 256 requests per connection. */
const MAX_CONCURRENT_CALLS = 256;

export interface GrpcServerOptions {
  host: string;
  port: number;
  /** broker.max_connections and broker.max_connections_per_address, counted for this listener. */
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** broker.idle_timeout_secs: a connection with no call open this long is closed (HTTP/2 GOAWAY). */
  idleTimeoutMs: number;
  auth: Authenticator;
  /** auth.max_failures_per_connection: calls with a bad key before the connection is closed. */
  maxAuthFailures: number;
  tls?: BunTlsOptions;
  serverVersion: string;
  heartbeatIntervalMs: number;
  defaultLeaseMs: number;
  maxBatchClaim: number;
  log: BrokerLog;
  extraStats?: () => Record<string, unknown>;
  /** Every call's end: the method's name and the gRPC status name (OK, INVALID_ARGUMENT, ...). */
  onRequest?(method: string, grpcStatus: string): void;
  onAuthFailure?(): void;
  /** An error of the error table answered (a call's status, or an item's error entry). */
  onProtocolError?(code: number): void;
  onConnectionRefused?(reason: GrpcRefusal): void;
  /** Test seam (see GrpcConnectionsOptions.simulate); never set by startApp. */
  simulate?: { bindHost?: string; remoteAddress?: string };
}

export interface GrpcServer {
  readonly port: number;
  readonly hostname: string;
  connectionCount(): number;
  stopAccepting(): void;
  /**
   * Shutdown: calls from now on are answered ShuttingDown; calls being carried out finish (up to
   * `timeoutMs`); worker streams end UNAVAILABLE (their workers reconnect elsewhere, or after the
   * restart); then every connection closes.
   */
  closeAll(timeoutMs: number): Promise<void>;
}

/** The call as every handler sees it: who it is from and how long it may take. */
export interface CallAdmission {
  admit(call: { getPeer(): string; metadata: Metadata }, method: string): { conn: GrpcConnection; principal: Principal };
  contextOf(call: { on(event: "cancelled", fn: () => void): unknown; getDeadline(): Date | number }, conn: GrpcConnection, principal: Principal): CallContext & { done(): void };
  stopping(): boolean;
}

function bearerKey(metadata: Metadata): string {
  const header = metadata.get("authorization")[0];
  if (typeof header !== "string") return "";
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? "";
}

/**
 * HTTP/2 flow-control windows of the broker's receiving side. At the protocol's 64 KiB default a
 * client has about five SubmitBatch calls of 100 tasks (12 KiB each) on the way at once, whatever
 * its window of calls. The connection's window is as large as a message may be; each call's
 * stream gets 1 MiB (a larger message is still taken, at the window's pace).
 */
export const CONNECTION_WINDOW_BYTES = MAX_FRAME_BYTES;
export const STREAM_WINDOW_BYTES = 1 << 20;

/**
 * A connection injector whose HTTP/2 sessions announce the windows above. grpc-js has no server
 * option for them: the stream window goes into the settings it passes to http2.createServer, the
 * connection window is set on each session as it opens (both are node:http2 API).
 */
function injectorWithWindows(server: Server): ReturnType<Server["createConnectionInjector"]> {
  const internals = server as unknown as { commonServerOptions: { settings?: Record<string, unknown> }; http2Servers: Map<NodeEventEmitter, unknown> };
  internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: STREAM_WINDOW_BYTES };
  const before = new Set(internals.http2Servers.keys());
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  for (const http2Server of internals.http2Servers.keys()) {
    if (before.has(http2Server)) continue;
    http2Server.on("session", (session: Http2Session) => {
      try {
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      } catch {
        // A session already closing: nothing to widen.
      }
    });
  }
  return injector;
}

export async function startGrpcServer(broker: Broker, o: GrpcServerOptions): Promise<GrpcServer> {
  const log = o.log;
  const definitions = protoDefinitions();
  let stopping = false;
  let inFlight = 0;
  const server = new Server({
    "grpc.max_receive_message_length": MAX_FRAME_BYTES,
    "grpc.max_send_message_length": MAX_FRAME_BYTES,
    "grpc.max_concurrent_streams": MAX_CONCURRENT_CALLS,
    "grpc.max_connection_idle_ms": o.idleTimeoutMs,
    // Clients that keep their channel alive with pings (a worker between tasks) are welcome to.
    "grpc.http2.min_ping_interval_without_data_ms": 5000,
    "grpc.keepalive_permit_without_calls": 1,
    // No channelz: nothing here serves it, and it traces every call.
    "grpc.enable_channelz": 0,
  });
  const injector = injectorWithWindows(server);
  let streams: WorkStreams | null = null;
  const connections = await listenGrpc({
    host: o.host,
    port: o.port,
    maxConnections: o.maxConnections,
    maxConnectionsPerAddress: o.maxConnectionsPerAddress,
    authEnabled: o.auth.enabled,
    ...(o.tls ? { tls: o.tls } : {}),
    log,
    inject: (socket: Socket) => injector.injectConnection(socket),
    closed: (conn) => {
      for (const workerId of conn.workerIds) broker.workerDisconnected(workerId, conn.id);
    },
    ...(o.onConnectionRefused ? { onRefused: o.onConnectionRefused } : {}),
    ...(o.simulate ? { simulate: o.simulate } : {}),
  });

  const ctx: ServiceContext = {
    broker,
    serverVersion: o.serverVersion,
    heartbeatIntervalMs: o.heartbeatIntervalMs,
    defaultLeaseMs: o.defaultLeaseMs,
    maxBatchClaim: o.maxBatchClaim,
    extraStats: () => o.extraStats?.() ?? {},
  };

  const principalOf = (metadata: Metadata, conn: GrpcConnection): Principal => {
    if (!o.auth.enabled) return ANONYMOUS_ADMIN;
    const key = bearerKey(metadata);
    const principal = key === "" ? null : o.auth.authenticate(key);
    if (principal !== null) return principal;
    o.onAuthFailure?.();
    // As a TCP connection is closed after too many failed Hellos: guessing keys costs a reconnect.
    if (++conn.authFailures >= o.maxAuthFailures) setTimeout(() => conn.close(), 50).unref();
    throw new BrokerError(
      ErrorCode.Unauthorized,
      key === "" ? "an API key is required (auth.enabled is true): send the metadata authorization: Bearer <key>" : "the API key is not valid",
      { field: "authorization" },
    );
  };

  const admission: CallAdmission = {
    stopping: () => stopping,
    admit(call, method) {
      const conn = connections.byPeer(call.getPeer());
      if (conn === undefined) throw new BrokerError(ErrorCode.Internal, `no connection record for peer ${call.getPeer()} (${method})`);
      if (conn.refused !== null) throw conn.refused;
      if (stopping) throw new BrokerError(ErrorCode.ShuttingDown, `the broker is shutting down; ${method} was not carried out`, { retryAfterMs: 1000 });
      return { conn, principal: principalOf(call.metadata, conn) };
    },
    contextOf(call, conn, principal) {
      const abort = new AbortController();
      const cancel = (): void => abort.abort();
      call.on("cancelled", cancel);
      conn.closed.addEventListener("abort", cancel);
      const deadline = call.getDeadline();
      const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
      inFlight++;
      return {
        conn,
        principal,
        signal: abort.signal,
        msLeft: () => (Number.isFinite(deadlineMs) ? deadlineMs - Date.now() : Infinity),
        done: () => {
          inFlight--;
          conn.closed.removeEventListener("abort", cancel);
        },
      };
    },
  };

  /** Ends a call with the status of `err`; a bug is logged, every error counted. */
  const failure = (method: string, err: unknown): ReturnType<typeof statusOf> => {
    const e = toBrokerError(err);
    if (e.code === ErrorCode.Internal) log.error("gRPC call failed", { err, method });
    o.onProtocolError?.(e.code);
    return statusOf(e);
  };

  const unary = (method: string, route: UnaryRoute) => (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const end = (err: unknown, reply?: unknown): void => {
      if (err === null) {
        o.onRequest?.(method, "OK");
        callback(null, reply);
        return;
      }
      const status = failure(method, err);
      o.onRequest?.(method, grpcStatusName(status.code));
      callback(status);
    };
    let context: (CallContext & { done(): void }) | null = null;
    try {
      const { conn, principal } = admission.admit(call, method);
      if (route.operation !== null) {
        const refused = authorize(principal, route.operation);
        if (refused !== null) throw refused;
      }
      context = admission.contextOf(call, conn, principal);
      const ctxCall = context;
      Promise.resolve()
        .then(() => route.handle(ctx, ctxCall, call.request as never))
        .then(
          (reply) => {
            ctxCall.done();
            end(null, reply);
          },
          (err: unknown) => {
            ctxCall.done();
            end(err);
          },
        );
    } catch (err) {
      context?.done();
      end(err);
    }
  };

  // SubmitBatch on the hand-written codec (submit-codec.ts): W1's hot path; the rest is proto-loader's.
  const brokerService = fastBrokerService(definitions) as unknown as ServiceDefinition;
  const handlers: UntypedServiceImplementation = {};
  for (const [method, route] of Object.entries(UNARY_ROUTES)) handlers[method] = unary(method, route);
  streams = openWorkStream({ broker, admission, ctx, log, newId: () => connections.nextId(), failure,
    onRequest: (m, s) => o.onRequest?.(m, s),
    ...(o.onProtocolError ? { onItemError: o.onProtocolError } : {}),
  });
  handlers.Work = streams.handler;
  server.addService(brokerService, handlers);

  const health = new HealthService(broker, () => stopping);
  server.addService(definitions["grpc.health.v1.Health"] as unknown as ServiceDefinition, health.implementation());
  const reflection = new Reflection(definitions);
  for (const name of ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]) {
    server.addService(definitions[name] as unknown as ServiceDefinition, reflection.implementation());
  }

  return {
    port: connections.port,
    hostname: connections.hostname,
    connectionCount: () => connections.count(),
    stopAccepting: () => connections.stopAccepting(),
    async closeAll(timeoutMs) {
      stopping = true;
      health.stopping();
      const deadline = performance.now() + timeoutMs;
      while (inFlight > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      if (inFlight > 0) log.warn("shutdown: gRPC calls still unanswered", { calls: inFlight, timeout_ms: timeoutMs });
      streams?.endAll(new BrokerError(ErrorCode.ShuttingDown, "the broker is shutting down", { retryAfterMs: 1000 }));
      // Let the last statuses go out before the sockets close.
      await new Promise((resolve) => setTimeout(resolve, 20));
      injector.destroy();
      server.forceShutdown();
      connections.destroyAll();
    },
  };
}

