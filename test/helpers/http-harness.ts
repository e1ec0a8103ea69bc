// The REST API of a real broker for tests: startApp (through startBroker: temp data dir, loopback,
// port 0) with the test's clock and a switch that fails store commits, plus a JSON fetch helper
// and extra HTTP listeners on the same broker for what only a listener's options can fake.

import { Authenticator, type ApiKeySpec } from "../../src/broker/auth.ts";
import type { Broker } from "../../src/broker/broker.ts";
import type { Clock } from "../../src/clock.ts";
import { startHttpServer, type HttpServer, type HttpServerOptions } from "../../src/http/http-server.ts";
import { silentLogger } from "../../src/log.ts";
import type { Metrics } from "../../src/metrics.ts";
import type { TlsFiles } from "../../src/tls.ts";
import { startBroker, type TestBroker } from "./broker.ts";

export interface HarnessOptions {
  /** Turns auth on with these keys (auth.enabled, auth.api_keys). */
  apiKeys?: ApiKeySpec[];
  /** Read by every part, and arming the background timers (a FakeClock is both). */
  clock?: Clock;
  /** Serves every listener over TLS (api.enable_tls and the tls_*_file keys). */
  tls?: TlsFiles;
  metricsRequireAuth?: boolean;
  queueDepthThreshold?: number;
  /** Log lines land here (as JSON text, debug and up) instead of being dropped. */
  logLines?: string[];
}

/** Options of an extra listener: the test seams of the HTTP server (protected mode, listener states). */
export type ListenerOverrides = Pick<HttpServerOptions, "simulate" | "listeners">;

export interface Harness {
  broker: Broker;
  metrics: Metrics;
  app: TestBroker;
  /** The REST API's port and base URL ("https://..." with tls). */
  http: { port: number; url: string };
  metricsPort: number;
  /** Set true to make every store commit fail, as a full or read-only disk would. */
  failCommits: boolean;
  /** JSON request against the REST server (or `base`); `key` becomes a Bearer header. */
  call(method: string, path: string, init?: { body?: unknown; rawBody?: string; key?: string; headers?: Record<string, string>; base?: string }): Promise<HttpReply>;
  /** Another REST listener on the same broker, with seams startApp does not offer; stopped with the harness. */
  listen(overrides: ListenerOverrides): HttpServer;
  stop(): Promise<void>;
}

export interface HttpReply {
  status: number;
  headers: Headers;
  /** Parsed JSON, or the text when the body is not JSON. */
  body: any;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const lines = options.logLines;
  const keys = options.apiKeys ?? [];
  const state = { failCommits: false };
  const config: Record<string, unknown> = {
    "auth.enabled": keys.length > 0,
    "auth.api_keys": keys,
    "auth.metrics_require_auth": options.metricsRequireAuth ?? false,
    ...(options.queueDepthThreshold === undefined ? {} : { "broker.queue_depth_threshold": options.queueDepthThreshold }),
    ...(options.tls
      ? { "api.enable_tls": true, "api.tls_cert_file": options.tls.certFile, "api.tls_key_file": options.tls.keyFile, "api.tls_ca_file": options.tls.caFile ?? "" }
      : {}),
  };
  const app = await startBroker(config, undefined, {
    start: {
      ...(options.clock ? { clock: options.clock, timers: options.clock } : {}),
      beforeCommit: () => {
        if (state.failCommits) throw new Error("disk I/O error (injected by the test)");
      },
    },
    ...(lines ? { logSink: (line: string) => void lines.push(line) } : {}),
  });
  const scheme = options.tls ? "https" : "http";
  const base = `${scheme}://127.0.0.1:${app.httpPort}`;
  const extra: HttpServer[] = [];
  return {
    broker: app.app.broker,
    metrics: app.app.metrics,
    app,
    http: { port: app.httpPort, url: base },
    metricsPort: app.metricsPort,
    get failCommits() {
      return state.failCommits;
    },
    set failCommits(v: boolean) {
      state.failCommits = v;
    },
    async call(method, path, init = {}) {
      const headers: Record<string, string> = { ...(init.headers ?? {}) };
      if (init.key !== undefined) headers.authorization = `Bearer ${init.key}`;
      let body: string | undefined = init.rawBody;
      if (init.body !== undefined) {
        body = JSON.stringify(init.body);
        headers["content-type"] = "application/json";
      }
      const res = await fetch(`${init.base ?? base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON (the dashboard, /metrics): tests read the text.
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },
    listen(overrides) {
      const server = startHttpServer(app.app.broker, {
        host: "127.0.0.1",
        port: 0,
        auth: new Authenticator(keys.length > 0, keys),
        log: silentLogger,
        serverVersion: "test",
        ...(options.clock ? { clock: options.clock } : {}),
        ...overrides,
      });
      extra.push(server);
      return server;
    },
    async stop() {
      for (const server of extra) await server.stop(true);
      await app.stop();
    },
  };
}
