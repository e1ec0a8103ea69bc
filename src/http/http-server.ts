// The HTTP front door on Bun.serve: protected mode, routing, bearer auth per route, JSON errors
// from the one error table, request metrics and logs. Translates only — handlers call the Broker
// and hold no queue rules. Takes typed options; reads no global config.

import type { Server } from "bun";
import type { Authenticator } from "../broker/auth.ts";
import type { Broker, BrokerLog } from "../broker/broker.ts";
import { BrokerError, ErrorCode, toBrokerError } from "../protocol/errors.ts";
import { MAX_FRAME_BYTES } from "../protocol/limits.ts";
import { systemClock, type Clock } from "../clock.ts";
import { bunTlsOptions, type TlsMaterial } from "../tls.ts";
import { authorizeRequest } from "./http-auth.ts";
import { errorJson, errorResponse, jsonResponse } from "./http-error.ts";
import { isProtectedListener, protectedModeError, protectedModeRefuses } from "../broker/protected-mode.ts";
import { Router, routeLabel, type DiskCheck, type ListenerCheck, type Route, type ServerFacts } from "./route.ts";
import { HTTP_ROUTES } from "./routes.ts";
import { MAX_HTTP_WAIT_MS } from "./task-routes.ts";
import { LiveEvents } from "./live-events.ts";
import { BUN_BODY_CAP_BYTES, withinBodyLimit } from "./body-limit.ts";

/** What the server reports; the Metrics class satisfies it. */
export interface HttpHooks {
  httpRequest(route: string, status: number): void;
  authFailure(frontDoor: "http"): void;
  protocolError(frontDoor: "http", code: number): void;
}

export interface HttpServerOptions {
  /** Bind address; anything beyond loopback with auth off turns protected mode on. */
  host: string;
  /** 0 lets the OS pick (see the returned port). */
  port: number;
  auth: Authenticator;
  log: BrokerLog;
  serverVersion: string;
  /** From loadTls(); absent = plain HTTP. */
  tls?: TlsMaterial;
  clock?: Clock;
  /** Listener states for /readyz, by config key (e.g. {"broker.port": true}). */
  listeners?: ListenerCheck;
  /** The data dir's free space, for /readyz (absent: not checked). */
  disk?: DiskCheck;
  /** Longest /readyz waits for the store's ping. Default 2000. */
  readyTimeoutMs?: number;
  hooks?: HttpHooks;
  /** Largest request body; default fits a maximal payload sent as base64 inside JSON. */
  maxRequestBodyBytes?: number;
  /**
   * Test seam: tests may bind only loopback, so they make the listener judge protected mode as if
   * bound to `bindHost` and as if every client came from `remoteAddress`. Never set in production.
   */
  simulate?: { bindHost?: string; remoteAddress?: string };
}

export interface HttpServer {
  readonly port: number;
  readonly hostname: string;
  /** "http://127.0.0.1:8080" or "https://...": for logs and tests. */
  readonly url: string;
  requestsInFlight(): number;
  /** Stops accepting; with `force`, also drops requests in flight (long result waits). */
  stop(force?: boolean): Promise<void>;
}

/** Health probes come from the orchestrator's address, not loopback; they reveal nothing, so protected mode lets them through. */
const PROTECTED_MODE_EXEMPT = new Set(["/healthz", "/readyz"]);

/** A certificate this close to expiry is logged at start, while there is time to renew it. */
const CERT_EXPIRY_WARNING_MS = 14 * 86_400_000;

/** base64 grows bytes by 4/3; the rest is JSON around it. */
const DEFAULT_MAX_BODY_BYTES = Math.ceil((MAX_FRAME_BYTES * 4) / 3) + 1024 * 1024;

export function startHttpServer(broker: Broker, options: HttpServerOptions): HttpServer {
  const log = options.log;
  const clock = options.clock ?? systemClock;
  const router = new Router(HTTP_ROUTES);
  const judgedHost = options.simulate?.bindHost ?? options.host;
  const protectedMode = isProtectedListener(judgedHost, options.auth.enabled);
  let inFlight = 0;
  const live = new LiveEvents(broker, clock, log);
  const maxBodyBytes = options.maxRequestBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  const facts: ServerFacts = {
    live,
    routes: HTTP_ROUTES,
    listeners: options.listeners ?? (() => ({})),
    disk: options.disk ?? null,
    readyTimeoutMs: options.readyTimeoutMs ?? 2000,
    serverVersion: options.serverVersion,
    now: () => clock.now(),
  };

  function fail(err: BrokerError, route: Route | null, remote: string | null, headers: Record<string, string> = {}): Response {
    options.hooks?.protocolError("http", err.code);
    if (err.code === ErrorCode.Unauthorized) {
      options.hooks?.authFailure("http");
      log.warn("http auth failed", { remote, route: route ? routeLabel(route) : null, reason: err.message });
    } else if (err.code === ErrorCode.Internal) {
      log.error("http request failed", { remote, route: route ? routeLabel(route) : null, err: err.cause ?? err });
    }
    return errorResponse(err, headers);
  }

  async function serve(received: Request, server: Server<undefined>): Promise<Response> {
    const url = new URL(received.url);
    const remote = options.simulate?.remoteAddress ?? server.requestIP(received)?.address ?? null;
    const request = await withinBodyLimit(received, maxBodyBytes);
    if (request instanceof BrokerError) return fail(request, null, remote, { connection: "close" });
    if (!PROTECTED_MODE_EXEMPT.has(url.pathname) && protectedModeRefuses({ bindHost: judgedHost, remoteAddress: remote, authEnabled: options.auth.enabled })) {
      log.warn("http client refused by protected mode", { remote });
      return fail(protectedModeError(judgedHost), null, remote);
    }
    const match = router.match(request.method, url.pathname);
    if (match.kind === "none") {
      return fail(new BrokerError(ErrorCode.NotFound, `no route ${request.method} ${url.pathname}; the routes are listed at /api/v1/openapi.json`), null, remote);
    }
    if (match.kind === "wrong_method") {
      // 405 is the one status not taken from the error table: HTTP requires it with Allow, and no table code means "wrong verb".
      const err = new BrokerError(ErrorCode.NotFound, `${url.pathname} does not take ${request.method}; it takes ${match.allowed.join(", ")}`);
      options.hooks?.protocolError("http", err.code);
      return jsonResponse(405, errorJson(err), { allow: match.allowed.join(", ") });
    }
    const route = match.route;
    let response: Response;
    try {
      const principal = route.operation === null ? null : authorizeRequest(options.auth, request.headers.get("authorization"), route.operation);
      const keepOpen = (): void => server.timeout(received, 0);
      const reply = await route.handle({ broker, request, params: match.params, query: url.searchParams, principal, server: facts, keepOpen });
      response = reply instanceof Response ? reply : jsonResponse(reply.status ?? route.responses[0]?.status ?? 200, reply.body);
    } catch (err) {
      response = fail(toBrokerError(err), route, remote);
    }
    options.hooks?.httpRequest(routeLabel(route), response.status);
    log.debug("http request", { remote, route: routeLabel(route), status: response.status });
    return response;
  }

  const server = Bun.serve({
    hostname: options.host,
    port: options.port,
    // Long enough for the longest result wait; Bun caps this at 255 s.
    idleTimeout: Math.ceil(MAX_HTTP_WAIT_MS / 1000) + 10,
    // Bun's own refusal is a bare 413; the limit is enforced in serve(), with the API's error.
    maxRequestBodySize: Math.max(BUN_BODY_CAP_BYTES, maxBodyBytes + 1),
    ...(options.tls ? { tls: bunTlsOptions(options.tls) } : {}),
    async fetch(request, srv) {
      inFlight++;
      try {
        return await serve(request, srv);
      } finally {
        inFlight--;
      }
    },
    error(err) {
      // Reached only when serve() itself throws (a bug): answer in the API's error shape anyway.
      log.error("http server error", { err });
      return errorResponse(new BrokerError(ErrorCode.Internal, "internal error"));
    },
  });

  const port = server.port ?? options.port;
  const hostname = server.hostname ?? options.host;
  const scheme = options.tls ? "https" : "http";
  const urlHost = hostname.includes(":") ? `[${hostname}]` : hostname;
  log.info("REST API listening", { url: `${scheme}://${urlHost}:${port}`, tls: options.tls?.subject ?? null });
  if (options.tls && options.tls.validToMs - clock.now() < CERT_EXPIRY_WARNING_MS) {
    log.warn("the TLS certificate expires soon", { subject: options.tls.subject, valid_to: new Date(options.tls.validToMs).toISOString() });
  }
  if (protectedMode) {
    log.warn("REST API in protected mode: auth is off and it listens beyond loopback, so only loopback clients are served", { host: options.host, port });
  }
  return {
    port,
    hostname,
    url: `${scheme}://${urlHost}:${port}`,
    requestsInFlight: () => inFlight,
    async stop(force = false) {
      live.stop();
      await server.stop(force);
    },
  };
}
