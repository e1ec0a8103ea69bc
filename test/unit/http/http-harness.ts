// Test harness for the HTTP front door: a real Broker on a real SQLite store in a temp dir, the
// REST server and the metrics listener on loopback port 0, and a fetch helper. Test-only.
// (Lives here because test/helpers/ belongs to another engineer; it can move there later.)

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Authenticator, type ApiKeySpec } from "../../../src/broker/auth.ts";
import { Broker } from "../../../src/broker/broker.ts";
import { startHttpServer, type HttpServer } from "../../../src/http/http-server.ts";
import { startMetricsServer, type MetricsServer } from "../../../src/http/metrics-server.ts";
import { createLogger, silentLogger } from "../../../src/log.ts";
import { Metrics } from "../../../src/metrics.ts";
import { systemClock, type Clock } from "../../../src/clock.ts";
import { openSqliteStore, type SqliteStore } from "../../../src/store/sqlite/sqlite-store.ts";
import type { TlsMaterial } from "../../../src/tls.ts";

export interface HarnessOptions {
  apiKeys?: ApiKeySpec[];
  clock?: Clock;
  tls?: TlsMaterial;
  metricsRequireAuth?: boolean;
  maxQueueLabels?: number;
  queueDepthThreshold?: number;
  listeners?: () => Record<string, boolean>;
  /** Log lines land here (as JSON text) instead of being dropped. */
  logLines?: string[];
  simulate?: { bindHost?: string; remoteAddress?: string };
}

export interface Harness {
  broker: Broker;
  store: SqliteStore;
  metrics: Metrics;
  http: HttpServer;
  metricsServer: MetricsServer;
  /** Set true to make every store commit fail, as a full or read-only disk would. */
  failCommits: boolean;
  /** JSON request against the REST server; `key` becomes a Bearer header. */
  call(method: string, path: string, init?: { body?: unknown; rawBody?: string; key?: string; headers?: Record<string, string> }): Promise<HttpReply>;
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
  const log = lines === undefined ? silentLogger : createLogger({ level: "debug", json: true, sink: (line) => void lines.push(line) });
  const dir = mkdtempSync(join(tmpdir(), "tq-http-"));
  const clock = options.clock ?? systemClock;
  let broker: Broker | undefined;
  const state = { failCommits: false };
  const metrics = new Metrics({ clock, maxQueueLabels: options.maxQueueLabels ?? 50 });
  const store = openSqliteStore({
    path: join(dir, "tq.db"),
    events: { ready: (queue, count) => broker?.onReady(queue, count), finished: (ends) => broker?.onFinished(ends) },
    onCommit: (ops, commitMs) => metrics.groupCommitted(ops, commitMs),
    beforeCommit: () => {
      if (state.failCommits) throw new Error("disk I/O error (injected by the test)");
    },
  });
  broker = new Broker({
    store,
    clock,
    log: silentLogger,
    queueDepthThreshold: options.queueDepthThreshold ?? 100_000,
    defaultLeaseMs: 30_000,
    defaultMaxRetries: 3,
    maxBatchClaim: 10,
    heartbeatIntervalMs: 15_000,
    disconnectGraceMs: 5_000,
    maxInactivityMs: 60_000,
    events: metrics,
    extraStats: () => ({ commits: store.commitStats() }),
  });
  metrics.attach(broker);
  const auth = new Authenticator((options.apiKeys ?? []).length > 0, options.apiKeys ?? []);
  const http = startHttpServer(broker, {
    host: "127.0.0.1",
    port: 0,
    auth,
    log,
    serverVersion: "test",
    clock,
    hooks: metrics,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.listeners ? { listeners: options.listeners } : {}),
    ...(options.simulate ? { simulate: options.simulate } : {}),
  });
  metrics.countConnectionsWith(() => ({ tcp: 0, http: http.requestsInFlight() }));
  const metricsServer = startMetricsServer(metrics, {
    host: "127.0.0.1",
    port: 0,
    auth,
    requireAuth: options.metricsRequireAuth ?? false,
    log,
  });
  const b = broker;
  return {
    broker: b,
    store,
    metrics,
    http,
    metricsServer,
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
      const res = await fetch(`${http.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON (the dashboard, /metrics): tests read the text.
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },
    async stop() {
      await http.stop(true);
      await metricsServer.stop();
      b.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
