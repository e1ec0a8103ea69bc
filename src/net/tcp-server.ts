// The TCP front door on Bun.listen: accepts connections (up to max_connections), enforces
// Hello/auth and protected mode, decodes frames, runs each request through the dispatch table and
// writes replies through the connection's Outbound. Translates only: no queue rules here.

import type { Socket, TCPSocketListener } from "bun";
import { ANONYMOUS_ADMIN, roleAllows } from "../broker/auth.ts";
import { isProtectedListener, protectedModeError, protectedModeRefuses } from "../broker/protected-mode.ts";
import type { Broker } from "../broker/broker.ts";
import { BrokerError, ErrorCode, toBrokerError, type ErrorCodeValue } from "../protocol/errors.ts";
import { encodeResponse } from "../protocol/frame-writer.ts";
import { errorResponse } from "../protocol/error-response.ts";
import { decodeRequest } from "../protocol/request-codec.ts";
import { FrameDecoder, type Frame } from "../protocol/frame-decoder.ts";
import { messageTypeName } from "../protocol/message-types.ts";
import { ProtocolError } from "../protocol/protocol-error.ts";
import type { Request, Response } from "../protocol/messages.ts";
import { ROUTES, type DispatchContext, type Session } from "./dispatch.ts";
import { effectiveMaxConnections, openFileLimit } from "./fd-limit.ts";
import { Outbound } from "./outbound.ts";
import type { TcpServer, TcpServerOptions } from "./tcp-server-options.ts";

export type { TcpServer, TcpServerOptions } from "./tcp-server-options.ts";

interface Conn {
  session: Session;
  decoder: FrameDecoder;
  out: Outbound;
  abort: AbortController;
  /** Requests still being worked on; a connection waiting for answers is not idle. */
  busy: number;
  /** Closing after the current writes: nothing more is read. */
  closing: boolean;
  /** Hellos refused so far; past auth.max_failures_per_connection the connection is closed. */
  authFailures: number;
  /** performance.now() of the last byte received. */
  lastReadMs: number;
  /** Reading stopped: too many replies outstanding or too many bytes queued for this client. */
  readPaused: boolean;
  /** Heavy requests (replies with whole tasks) being worked on. */
  heavyPending: number;
  /** A decoded heavy request waiting for a heavy slot; dispatched before any later frame. */
  held: Request | null;
}

type BrokerSocket = Socket<Conn>;

/**
 * Ordered replies one connection may have outstanding before the broker stops reading it:
 * enough to keep group commits full for a pipelining worker (256 over 64 measured +14% on the
 * drain workload: bigger groups, fewer fsyncs), and small: replies carrying whole tasks are
 * bounded separately by MAX_HEAVY_PENDING.
 */
const MAX_PENDING_REPLIES = 256;
/** Requests whose replies carry whole tasks that one connection may have outstanding. */
const MAX_HEAVY_PENDING = 4;
/** At shutdown, how long a connection must have sent nothing before it is closed (see closeAll). */
const QUIET_BEFORE_CLOSE_MS = 50;

export function startTcpServer(broker: Broker, options: TcpServerOptions): TcpServer {
  const log = options.log;
  const idleSecs = Math.max(1, Math.ceil(options.idleTimeoutMs / 1000));
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

  /** Past either bound a connection's frames stay in its decoder and its socket is not read. */
  function overloaded(conn: Conn): boolean {
    return conn.out.overCap() || conn.out.pendingReplies >= MAX_PENDING_REPLIES || (conn.held !== null && conn.heavyPending >= MAX_HEAVY_PENDING);
  }

  function isHeavy(request: Request): boolean {
    return ROUTES[request.kind].heavy === true;
  }

  /**
   * Runs the buffered frames of a connection through dispatch, one at a time, until none is left
   * or the connection is overloaded; checked per frame, since one read can hold thousands.
   */
  function pump(socket: BrokerSocket): void {
    const conn = socket.data;
    while (!conn.closing) {
      if (overloaded(conn)) {
        if (!conn.readPaused) {
          conn.readPaused = true;
          socket.pause();
        }
        return;
      }
      if (conn.held !== null) {
        const held = conn.held;
        conn.held = null;
        handle(socket, held);
        continue;
      }
      let frame: Frame | null;
      try {
        frame = conn.decoder.next();
      } catch (err) {
        const e = toBrokerError(err);
        log.debug("framing lost; closing", { session: conn.session.id, code: e.code, err: e.message });
        refuse(socket, e.code, e.message);
        return;
      }
      if (frame === null) {
        if (conn.readPaused) {
          conn.readPaused = false;
          socket.resume();
        }
        return;
      }
      let request: Request;
      try {
        request = decodeRequest(frame.type, frame.body);
      } catch (err) {
        const e = toBrokerError(err);
        const requestId = err instanceof ProtocolError ? (err.requestId ?? 0) : 0;
        log.debug("bad request", { session: conn.session.id, type: messageTypeName(frame.type), code: e.code, err: e.message });
        options.onProtocolError?.(e.code);
        conn.out.fill(conn.out.reserve(), errorFrame(requestId, e));
        if (e.spec.closesConnection) {
          conn.closing = true;
          setImmediate(() => socket.end());
        }
        continue;
      }
      if (isHeavy(request) && conn.heavyPending >= MAX_HEAVY_PENDING) {
        conn.held = request;
        continue;
      }
      handle(socket, request);
    }
  }

  /** A reply went out or the outbound queue drained: a paused connection may be read again. */
  function unblock(socket: BrokerSocket): void {
    const conn = socket.data;
    if (conn.readPaused && !conn.closing && !overloaded(conn)) pump(socket);
  }

  function handle(socket: BrokerSocket, request: Request): void {
    const conn = socket.data;
    const route = ROUTES[request.kind] as (typeof ROUTES)[Request["kind"]];
    const session = conn.session;
    let authFailure = false;
    const slot = route.unordered ? -1 : conn.out.reserve();
    const reply = (frame: Uint8Array): void => {
      if (slot < 0) conn.out.sendNow(frame);
      else conn.out.fill(slot, frame);
      if (conn.readPaused) setImmediate(() => unblock(socket));
    };
    const fail = (err: unknown): void => {
      const e = toBrokerError(err);
      if (e.code === ErrorCode.Internal) log.error("request failed", { err, request: request.kind, session: session.id });
      options.onProtocolError?.(e.code);
      reply(errorFrame(request.requestId, e));
      if (e.code === ErrorCode.Unauthorized && request.kind === "Hello") authFailure = true;
      // ShuttingDown closes too, but in closeAll, once every request read has its answer: closing
      // here would drop the replies of earlier requests still being committed.
      if ((e.spec.closesConnection && e.code !== ErrorCode.ShuttingDown) || (authFailure && ++conn.authFailures >= options.maxAuthFailures)) {
        conn.closing = true;
        setImmediate(() => socket.end());
      }
    };
    if (stopping) {
      fail(new BrokerError(ErrorCode.ShuttingDown, `the broker is shutting down; ${request.kind} was not carried out`, { retryAfterMs: 1000 }));
      return;
    }
    if (route.operation !== null) {
      if (session.principal === null) {
        fail(new BrokerError(ErrorCode.Unauthorized, `${request.kind} before Hello: send Hello with an API key first (auth.enabled is true)`));
        return;
      }
      if (!roleAllows(session.principal.role, route.operation)) {
        fail(
          new BrokerError(ErrorCode.Forbidden, `the ${session.principal.role} role may not ${route.operation} (key ${JSON.stringify(session.principal.name)})`),
        );
        return;
      }
    }
    // A reply that cannot be encoded is answered with an error, never left unfilled: that would
    // hang every later reply on the connection. Every stored task fits one reply
    // (MAX_TASK_DATA_BYTES), so this is a bug, and the request may have taken effect: Internal.
    const send = (response: Response): void => {
      let frame: Uint8Array;
      try {
        frame = encodeResponse(response);
      } catch (err) {
        const e = toBrokerError(err);
        log.error("reply could not be encoded", { request: request.kind, code: e.code, err: e.message });
        frame = errorFrame(
          request.requestId,
          new BrokerError(ErrorCode.Internal, `the reply to ${request.kind} cannot be sent: ${e.message}`, { field: "" }),
        );
      }
      reply(frame);
    };
    let result: Response | Promise<Response>;
    try {
      result = (route.handle as (c: DispatchContext, s: Session, r: Request) => Response | Promise<Response>)(ctx, session, request);
    } catch (err) {
      fail(err);
      return;
    }
    if (!(result instanceof Promise)) {
      send(result);
      return;
    }
    const heavy = isHeavy(request);
    conn.busy++;
    if (heavy) conn.heavyPending++;
    const settled = (): void => {
      conn.busy--;
      if (heavy) conn.heavyPending--;
    };
    result.then(
      (response) => {
        settled();
        send(response);
      },
      (err: unknown) => {
        settled();
        fail(err);
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
        };
        socket.data = {
          session,
          decoder: new FrameDecoder(),
          out: new Outbound(socket, {
            capBytes: options.maxOutboundBytes,
            onPressure(over) {
              // A client that does not read its replies stops being read (pump pauses it): TCP
              // pushes back on it. Once its replies drained, reading goes on.
              if (!over) unblock(socket);
            },
          }),
          abort,
          busy: 0,
          closing: false,
          authFailures: 0,
          lastReadMs: performance.now(),
          readPaused: false,
          heavyPending: 0,
          held: null,
        };
        open++;
        sockets.add(socket);
        socket.setNoDelay(true);
        socket.timeout(idleSecs);
        if (open > maxConnections) {
          refuse(socket, ErrorCode.TooManyConnections, `the broker is at its connection limit (broker.max_connections = ${maxConnections})`);
          return;
        }
        const bindHost = options.simulate?.bindHost ?? options.host;
        const remoteAddress = options.simulate?.remoteAddress ?? socket.remoteAddress;
        if (protectedModeRefuses({ bindHost, remoteAddress, authEnabled: options.auth.enabled })) {
          refuse(socket, ErrorCode.ProtectedMode, protectedModeError(bindHost).message);
          return;
        }
        log.debug("connection opened", { session: id, remote: socket.remoteAddress });
      },
      data(socket, chunk) {
        const conn = socket.data;
        if (conn.closing) return;
        conn.lastReadMs = performance.now();
        conn.decoder.push(chunk);
        pump(socket);
      },
      drain(socket) {
        socket.data.out.flush();
      },
      timeout(socket) {
        // Bun's socket timer ticks coarsely and is not reset by traffic, so idleness is judged
        // here from the last read. Waiting on a blocking claim or a result is not idleness.
        const conn = socket.data;
        const quietMs = performance.now() - conn.lastReadMs;
        if (!conn.closing && (conn.busy > 0 || quietMs < options.idleTimeoutMs)) {
          socket.timeout(idleSecs);
          return;
        }
        log.debug("idle connection closed", { session: conn.session.id });
        socket.end();
      },
      close(socket) {
        const conn = socket.data;
        if (!conn) return;
        open--;
        sockets.delete(socket);
        conn.out.close();
        conn.abort.abort();
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
      const deadline = performance.now() + timeoutMs;
      const answered = (conn: Conn): boolean =>
        conn.busy === 0 && conn.held === null && conn.out.pendingReplies === 0 && conn.out.queuedBytes === 0 && performance.now() - conn.lastReadMs >= QUIET_BEFORE_CLOSE_MS;
      for (const socket of sockets) if (socket.data.readPaused) unblock(socket);
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
