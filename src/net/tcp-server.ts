// The TCP front door on Bun.listen: accepts connections (up to max_connections, and per address),
// enforces Hello/auth, protected mode and the connection deadlines, decodes frames, runs each
// request through the dispatch table and writes replies through the connection's Outbound, within
// a per-connection budget and a fair share of each event-loop turn. Translates only: no queue rules.

import type { TCPSocketListener } from "bun";
import { ANONYMOUS_ADMIN, authorize, type Operation } from "../broker/auth.ts";
import { isProtectedListener, protectedModeError, protectedModeRefuses } from "../broker/protected-mode.ts";
import type { Broker } from "../broker/broker.ts";
import { systemClock } from "../clock.ts";
import { BrokerError, ErrorCode, toBrokerError, type ErrorCodeValue } from "../protocol/errors.ts";
import { encodeResponse } from "../protocol/frame-writer.ts";
import { errorResponse } from "../protocol/error-response.ts";
import { FrameDecoder } from "../protocol/frame-decoder.ts";
import { messageTypeName } from "../protocol/message-types.ts";
import { ProtocolError } from "../protocol/protocol-error.ts";
import type { Request, Response } from "../protocol/messages.ts";
import { ROUTES, type DispatchContext, type Session } from "./dispatch.ts";
import { AddressLimit } from "./address-limit.ts";
import type { BrokerSocket, Conn } from "./conn.ts";
import { ConnDeadlines, type DeadlineKind } from "./conn-deadlines.ts";
import { effectiveMaxConnections, openFileLimit } from "./fd-limit.ts";
import { Outbound } from "./outbound.ts";
import { createReadLoop } from "./read-loop.ts";
import type { TcpServer, TcpServerOptions } from "./tcp-server-options.ts";

export type { ConnectionRefusal, TcpServer, TcpServerOptions } from "./tcp-server-options.ts";

/** At shutdown, how long a connection must have sent nothing before it is closed (see closeAll). */
const QUIET_BEFORE_CLOSE_MS = 50;

export function startTcpServer(broker: Broker, options: TcpServerOptions): TcpServer {
  const log = options.log;
  const clock = options.clock ?? systemClock;
  const fdLimit = openFileLimit();
  const maxConnections = effectiveMaxConnections(options.maxConnections, fdLimit);
  if (maxConnections < options.maxConnections) {
    log.warn("broker.max_connections lowered to fit the open-file limit (raise LimitNOFILE / ulimit -n)", {
      configured: options.maxConnections,
      effective: maxConnections,
      open_file_limit: fdLimit,
    });
  }
  let open = 0;
  let nextSessionId = 1;
  /** closeAll has begun: every request read from now on is answered ShuttingDown, not carried out. */
  let stopping = false;
  const sockets = new Set<BrokerSocket>();
  const perAddress = new AddressLimit(options.maxConnectionsPerAddress ?? 0);
  const ctx: DispatchContext = {
    broker,
    serverVersion: options.serverVersion,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    defaultLeaseMs: options.defaultLeaseMs,
    maxBatchClaim: options.maxBatchClaim,
    // A TaskResultBatch answers errors per item: they count like a TaskResult's error frame.
    itemError: (code) => options.onProtocolError?.(code),
    authenticate(apiKey, session) {
      if (!options.auth.enabled) {
        session.principal = ANONYMOUS_ADMIN;
        return;
      }
      const principal = options.auth.authenticate(apiKey);
      if (!principal) {
        options.onAuthFailure?.();
        throw new BrokerError(ErrorCode.Unauthorized, apiKey === "" ? "an API key is required (auth.enabled is true)" : "the API key is not valid", {
          field: "api_key",
        });
      }
      session.principal = principal;
    },
    extraStats: () => ({ connections: open }),
  };

  function errorFrame(requestId: number, err: BrokerError): Uint8Array {
    return encodeResponse(errorResponse(requestId, err));
  }

  /** Sends an error that ends the connection, then closes it once written. */
  function refuse(socket: BrokerSocket, code: ErrorCodeValue, message: string, requestId = 0): void {
    const conn = socket.data;
    options.onProtocolError?.(code);
    conn.closing = true;
    conn.out.sendNow(errorFrame(requestId, new BrokerError(code, message)));
    conn.out.flush();
    socket.end();
  }

  const reader = createReadLoop({
    log,
    dispatch: (socket, request, frameBytes) => handle(socket, request, frameBytes),
    refuse: (socket, code, message) => refuse(socket, code, message),
    badRequest(socket, err, frameType) {
      const conn = socket.data;
      const e = toBrokerError(err);
      const requestId = err instanceof ProtocolError ? (err.requestId ?? 0) : 0;
      log.debug("bad request", { session: conn.session.id, type: messageTypeName(frameType), code: e.code, err: e.message });
      options.onProtocolError?.(e.code);
      conn.out.fill(conn.out.reserve(), errorFrame(requestId, e));
      if (e.spec.closesConnection) {
        conn.closing = true;
        setImmediate(() => socket.end());
      }
    },
  });

  /** A deadline passed: idle connections close quietly, the others are told why. */
  function expire(socket: BrokerSocket, kind: DeadlineKind): void {
    const conn = socket.data;
    if (conn.closing) return;
    if (kind === "idle") {
      log.debug("idle connection closed", { session: conn.session.id });
      conn.closing = true;
      socket.end();
      return;
    }
    const seconds = (ms: number | undefined): string => `${(ms ?? 0) / 1000} s`;
    // Debug, not info: under attack this is one line per connection; the metric counts them.
    log.debug(kind === "frame" ? "connection closed: frame not finished in time" : "connection closed: no successful Hello in time", {
      session: conn.session.id,
      remote: conn.session.remoteAddress,
    });
    options.onConnectionRefused?.(kind === "frame" ? "frame_timeout" : "auth_timeout");
    if (kind === "frame") {
      refuse(
        socket,
        ErrorCode.Timeout,
        `a frame was not finished within broker.frame_timeout_secs (${seconds(options.frameTimeoutMs)}) of its first byte: ${conn.decoder.bufferedBytes} bytes received`,
      );
    } else {
      refuse(socket, ErrorCode.Unauthorized, `no successful Hello within broker.auth_timeout_secs (${seconds(options.authTimeoutMs)}) of connecting (auth.enabled is true)`);
    }
  }

  /** Puts a reply in its place (slot -1: sent when ready) and lets a paused connection go on. */
  function reply(socket: BrokerSocket, slot: number, frame: Uint8Array): void {
    const conn = socket.data;
    if (slot < 0) conn.out.sendNow(frame);
    else conn.out.fill(slot, frame);
    // One scheduled pump per connection, however many replies: a pump per reply once made a
    // non-reading client's Pings pile up millions of pending callbacks (gigabytes).
    if (conn.readPaused) reader.unblock(socket);
  }

  function fail(socket: BrokerSocket, request: Request, slot: number, err: unknown): void {
    const conn = socket.data;
    const e = toBrokerError(err);
    if (e.code === ErrorCode.Internal) log.error("request failed", { err, request: request.kind, session: conn.session.id });
    options.onProtocolError?.(e.code);
    reply(socket, slot, errorFrame(request.requestId, e));
    const authFailure = e.code === ErrorCode.Unauthorized && request.kind === "Hello";
    // ShuttingDown closes too, but in closeAll, once every request read has its answer: closing
    // here would drop the replies of earlier requests still being committed.
    if ((e.spec.closesConnection && e.code !== ErrorCode.ShuttingDown) || (authFailure && ++conn.authFailures >= options.maxAuthFailures)) {
      conn.closing = true;
      setImmediate(() => socket.end());
    }
  }

  /**
   * A reply that cannot be encoded is answered with an error, never left unfilled: that would
   * hang every later reply on the connection. Every stored task fits one reply
   * (MAX_TASK_DATA_BYTES), so this is a bug, and the request may have taken effect: Internal.
   */
  function send(socket: BrokerSocket, request: Request, slot: number, response: Response): void {
    let frame: Uint8Array;
    try {
      frame = encodeResponse(response);
    } catch (err) {
      const e = toBrokerError(err);
      log.error("reply could not be encoded", { request: request.kind, code: e.code, err: e.message });
      frame = errorFrame(request.requestId, new BrokerError(ErrorCode.Internal, `the reply to ${request.kind} cannot be sent: ${e.message}`, { field: "" }));
    }
    reply(socket, slot, frame);
  }

  function permissionError(session: Session, request: Request, operation: Operation): BrokerError | null {
    if (session.principal === null) {
      return new BrokerError(ErrorCode.Unauthorized, `${request.kind} before Hello: send Hello with an API key first (auth.enabled is true)`);
    }
    return authorize(session.principal, operation);
  }

  /**
   * Runs one request. Requests answered at once allocate no callbacks (a Ping flood is millions
   * of them); `frameBytes` is what the request counts against the connection's busy bytes meanwhile.
   */
  function handle(socket: BrokerSocket, request: Request, frameBytes: number): void {
    const conn = socket.data;
    const route = ROUTES[request.kind] as (typeof ROUTES)[Request["kind"]];
    const session = conn.session;
    const slot = route.unordered ? -1 : conn.out.reserve();
    if (stopping) {
      fail(socket, request, slot, new BrokerError(ErrorCode.ShuttingDown, `the broker is shutting down; ${request.kind} was not carried out`, { retryAfterMs: 1000 }));
      return;
    }
    if (route.operation !== null) {
      const refused = permissionError(session, request, route.operation);
      if (refused !== null) {
        fail(socket, request, slot, refused);
        return;
      }
    }
    let result: Response | Promise<Response>;
    try {
      result = (route.handle as (c: DispatchContext, s: Session, r: Request) => Response | Promise<Response>)(ctx, session, request);
    } catch (err) {
      fail(socket, request, slot, err);
      return;
    }
    if (request.kind === "Hello" && session.principal !== null) conn.deadlines.authenticated();
    if (!(result instanceof Promise)) {
      send(socket, request, slot, result);
      return;
    }
    const heavy = route.heavy === true;
    conn.busy++;
    conn.busyBytes += frameBytes;
    if (heavy) conn.heavyPending++;
    const settled = (): void => {
      conn.busy--;
      conn.busyBytes -= frameBytes;
      if (heavy) conn.heavyPending--;
      if (conn.busy === 0) conn.deadlines.activity();
    };
    result.then(
      (response) => {
        settled();
        send(socket, request, slot, response);
      },
      (err: unknown) => {
        settled();
        fail(socket, request, slot, err);
      },
    );
  }

  const listener: TCPSocketListener<Conn> = Bun.listen<Conn>({
    hostname: options.host,
    port: options.port,
    ...(options.tls ? { tls: options.tls } : {}),
    socket: {
      open(socket) {
        const abort = new AbortController();
        const id = nextSessionId++;
        const session: Session = {
          id,
          remoteAddress: socket.remoteAddress,
          principal: options.auth.enabled ? null : ANONYMOUS_ADMIN,
          workerId: `conn-${id}-${process.pid}`,
          workerIds: new Set(),
          closed: abort.signal,
          push: (response) => socket.data.out.sendNow(encodeResponse(response)),
          pushable: () => !socket.data.closing && !socket.data.out.overCap(),
        };
        socket.data = {
          session,
          decoder: new FrameDecoder(),
          out: new Outbound(socket, {
            capBytes: options.maxOutboundBytes,
            onPressure(over) {
              // A client that does not read its replies stops being read (pump pauses it): TCP
              // pushes back on it, and its subscriptions get nothing more. Once its replies
              // drained, reading and deliveries go on.
              if (!over) {
                reader.unblock(socket);
                broker.consumerWritable(id);
              }
            },
            onSinkClosed() {
              // The peer is gone. Bun may hold megabytes it read from this socket for delivery
              // before its close event; none of it will be answered.
              socket.data.closing = true;
              reader.dropInput(socket);
              socket.terminate();
            },
          }),
          abort,
          busy: 0,
          busyBytes: 0,
          closing: false,
          authFailures: 0,
          readPaused: false,
          pumpQueued: false,
          heavyPending: 0,
          held: null,
          deadlines: new ConnDeadlines({
            idleMs: options.idleTimeoutMs,
            frameMs: options.frameTimeoutMs ?? null,
            authMs: options.auth.enabled ? (options.authTimeoutMs ?? null) : null,
            waiting: () => socket.data.busy > 0,
            expired: (kind) => expire(socket, kind),
            clock,
          }),
          addressKey: null,
        };
        socket.data.deadlines.start();
        open++;
        sockets.add(socket);
        socket.setNoDelay(true);
        if (open > maxConnections) {
          options.onConnectionRefused?.("max_connections");
          refuse(socket, ErrorCode.TooManyConnections, `the broker is at its connection limit (broker.max_connections = ${maxConnections})`);
          return;
        }
        const remoteAddress = options.simulate?.remoteAddress ?? socket.remoteAddress;
        const admitted = perAddress.admit(remoteAddress);
        if (admitted === false) {
          options.onConnectionRefused?.("max_connections_per_address");
          refuse(
            socket,
            ErrorCode.TooManyConnections,
            `${remoteAddress} is at its connection limit (broker.max_connections_per_address = ${options.maxConnectionsPerAddress})`,
          );
          return;
        }
        socket.data.addressKey = admitted.key;
        const bindHost = options.simulate?.bindHost ?? options.host;
        if (protectedModeRefuses({ bindHost, remoteAddress, authEnabled: options.auth.enabled })) {
          options.onConnectionRefused?.("protected_mode");
          refuse(socket, ErrorCode.ProtectedMode, protectedModeError(bindHost).message);
          return;
        }
        reader.opened(socket);
        log.debug("connection opened", { session: id, remote: socket.remoteAddress });
      },
      data(socket, chunk) {
        const conn = socket.data;
        if (conn.closing) return;
        conn.deadlines.activity();
        reader.received(socket, chunk);
      },
      drain(socket) {
        // The client took bytes: reading its replies is not idleness.
        socket.data.deadlines.activity();
        socket.data.out.flush();
      },
      close(socket) {
        const conn = socket.data;
        if (!conn) return;
        open--;
        sockets.delete(socket);
        // Everything the connection made the broker hold goes with it; requests still being worked
        // on find their replies dropped.
        conn.closing = true;
        conn.held = null;
        conn.deadlines.stop();
        reader.dropInput(socket);
        perAddress.release(conn.addressKey);
        conn.out.close();
        conn.abort.abort();
        broker.consumerGone(conn.session.id);
        for (const workerId of conn.session.workerIds) broker.workerDisconnected(workerId, conn.session.id);
        log.debug("connection closed", { session: conn.session.id });
      },
      error(socket, err) {
        log.debug("socket error", { session: socket.data?.session.id, err });
      },
    },
  });

  if (isProtectedListener(options.simulate?.bindHost ?? options.host, options.auth.enabled)) {
    log.warn("protocol in protected mode: auth is off and it listens beyond loopback, so only loopback clients are served", {
      host: options.host,
      port: listener.port,
    });
  }

  return {
    port: listener.port,
    hostname: listener.hostname,
    connectionCount: () => open,
    busyCount() {
      let busy = 0;
      for (const socket of sockets) busy += socket.data.busy;
      return busy;
    },
    stopAccepting() {
      listener.stop(false);
    },
    async closeAll(timeoutMs) {
      // Every request read from now on is answered ShuttingDown; those being worked on finish and
      // are answered; every reply is written before its connection closes, and a connection is
      // closed once it has been quiet a moment, so requests already on their way get an answer.
      stopping = true;
      const stoppedAt = performance.now();
      const deadline = stoppedAt + timeoutMs;
      // Quiet counts from the stop at the earliest: a connection idle since long ago may have
      // frames in its socket that the event loop has not read yet (closeAll can be called in the
      // same turn as a fatal fsync); they must be read and answered ShuttingDown, not cut off.
      const quietSinceStop = (conn: Conn): number => Math.min(conn.deadlines.quietMs(), performance.now() - stoppedAt);
      const answered = (conn: Conn): boolean =>
        conn.busy === 0 && conn.held === null && conn.out.pendingReplies === 0 && conn.out.queuedBytes === 0 && quietSinceStop(conn) >= QUIET_BEFORE_CLOSE_MS;
      for (const socket of sockets) if (socket.data.readPaused) reader.unblock(socket);
      while (performance.now() < deadline && [...sockets].some((s) => !answered(s.data))) {
        for (const socket of sockets) {
          if (answered(socket.data)) socket.end();
          else socket.data.out.flush();
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const unanswered = [...sockets].filter((s) => s.data.busy > 0 || s.data.out.pendingReplies > 0).length;
      if (unanswered > 0) log.warn("shutdown: connections closed with requests still unanswered", { connections: unanswered, timeout_ms: timeoutMs });
      for (const socket of sockets) {
        socket.data.closing = true;
        socket.data.out.flush();
        socket.end();
      }
      listener.stop(true);
    },
  };
}
