// startApp: composes the broker's parts from one validated Config and stops them in reverse
// order. Holds no queue rules and parses no config; each part receives typed options.

import { Authenticator } from "./broker/auth.ts";
import { Broker } from "./broker/broker.ts";
import { configWarnings, type Config } from "./config/index.ts";
import { bindOrExplain, listenError } from "./config/listen-error.ts";
import type { Logger } from "./log.ts";
import { startHttpServer, type HttpServer } from "./http/http-server.ts";
import { startMetricsServer } from "./http/metrics-server.ts";
import { Metrics } from "./metrics.ts";
import { startTcpServer, type TcpServer } from "./net/tcp-server.ts";
import type { GrpcServer } from "./grpc/grpc-server.ts";
import { bunTlsOptions, loadTls } from "./tls.ts";
import { systemClock, type Clock } from "./clock.ts";
import { startRetention } from "./background/retention.ts";
import { Scheduler } from "./background/scheduler.ts";
import { openConfiguredStore } from "./app-store.ts";
import { versionInfo } from "./version.ts";

/** Longest wait at shutdown for requests already being committed to get their replies. */
const DRAIN_TIMEOUT_MS = 5000;
/** Longest wait, after a failed WAL fsync, for the requests it covered to get their OutcomeUnknown replies. */
const FATAL_REPLY_TIMEOUT_MS = 2000;

export { DATABASE_FILE } from "./app-store.ts";

export interface App {
  /** Where each listener is bound, by config key, e.g. { "broker.port": "127.0.0.1:6379" }. */
  readonly addresses: Record<string, string>;
  /** Absolute path of the locked data dir. */
  readonly dataDir: string;
  /** The running broker's commands (tests and embedding use it directly). */
  readonly broker: Broker;
  /** The registry /metrics renders (tests read it directly). */
  readonly metrics: Metrics;
  /** Stops every part in reverse start order; safe to call twice. */
  stop(reason?: string): Promise<void>;
}

/** What the command line adds to the config for one start. */
export interface StartOptions {
  /** `serve --accept-data-loss`: start even when the checks at open find data lost, and list it. */
  acceptDataLoss?: boolean;
  /**
   * Where every part's time comes from (leases, delays, backoff, the reaper, waits, connection
   * deadlines, retention). Default: the system's. Tests pass a fake and advance it.
   */
  clock?: Clock;
  /**
   * Test seam, never set by the command line: runs before each store COMMIT, and a throw fails
   * that commit as a full or read-only disk would.
   */
  beforeCommit?: () => void;
}

export async function startApp(config: Config, rootLog: Logger, options: StartOptions = {}): Promise<App> {
  let log = rootLog;
  /** Undo steps, run last-first on stop or when a later step fails to start. */
  const undo: Array<() => void | Promise<void>> = [];
  const addresses: Record<string, string> = {};

  const runUndo = async (): Promise<void> => {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (err) {
        log.error("shutdown step failed", { err });
      }
    }
    undo.length = 0;
  };

  for (const w of configWarnings(config)) log.warn(w.message, { key: w.path });

  try {
    // TLS fails closed before anything binds or opens: a bad cert must not leave a plain listener.
    const tls = config.api.enable_tls
      ? loadTls({ certFile: config.api.tls_cert_file, keyFile: config.api.tls_key_file, caFile: config.api.tls_ca_file })
      : undefined;
    const clock = options.clock ?? systemClock;
    const cfg = config.broker;
    // With several brokers on one database the node id tells their log lines apart.
    const nodeId = config.raft.node_id;
    if (config.persistence.backend === "postgres") log = log.child({ node: nodeId });
    let broker: Broker | null = null;
    let tcpServer: TcpServer | null = null;
    let httpServer: HttpServer | null = null;
    let grpcServer: GrpcServer | null = null;
    let scheduler: Scheduler | null = null;
    let exiting = false;
    // After a failed fsync the kernel may have dropped the pages (PostgreSQL's "fsyncgate"): no
    // later write can be trusted. The requests the fsync covered were answered OutcomeUnknown
    // (they may or may not be on disk): take no more work, let those replies go out, then exit 1
    // so that recovery (under systemd, a restart) reads what the file really holds.
    const exitAfterFatal = async (): Promise<void> => {
      if (exiting) return;
      exiting = true;
      tcpServer?.stopAccepting();
      grpcServer?.stopAccepting();
      broker?.close();
      const deadline = performance.now() + FATAL_REPLY_TIMEOUT_MS;
      while ((httpServer?.requestsInFlight() ?? 0) > 0 && performance.now() < deadline) await Bun.sleep(5);
      // closeAll answers what it holds (OutcomeUnknown for the failed group) before it closes.
      await Promise.all([tcpServer?.closeAll(Math.max(0, deadline - performance.now())), grpcServer?.closeAll(Math.max(0, deadline - performance.now()))]);
      log.error("exiting after the failed fsync", { exit_code: 1 });
      process.exit(1);
    };
    const metrics = new Metrics({ clock });
    const opened = await openConfiguredStore(config, log, {
      clock,
      acceptDataLoss: options.acceptDataLoss ?? false,
      retry: {
        backoff: { baseMs: cfg.retry_base_delay_ms, factor: cfg.retry_factor, maxMs: cfg.retry_max_delay_ms, jitter: cfg.retry_jitter },
        random: Math.random,
      },
      events: {
        ready: (queue, count) => broker?.onReady(queue, count),
        finished: (ends, elsewhere) => broker?.onFinished(ends, elsewhere),
        due: (atMs) => scheduler?.poke(atMs),
        paused: (queue, paused) => broker?.onPaused(queue, paused),
        workerCommand: (workerId, command) => broker?.onForwardedWorkerCommand(workerId, command),
      },
      onCommit: (ops, ms) => metrics.groupCommitted(ops, ms),
      onFatal: (err) => {
        log.error("fsync of the write-ahead log failed: the requests it covered are answered OutcomeUnknown; exiting so that recovery reads what is on disk", { err });
        void exitAfterFatal();
      },
      ...(options.beforeCommit ? { beforeCommit: options.beforeCommit } : {}),
    });
    const store = opened.store;
    undo.push(() => opened.close());
    metrics.nodeIs(nodeId, config.persistence.backend);

    broker = new Broker({
      store,
      clock,
      log: log.child({ component: "broker" }),
      queueDepthThreshold: cfg.queue_depth_threshold,
      defaultLeaseMs: cfg.worker_lease_timeout_secs * 1000,
      defaultMaxRetries: cfg.default_max_retries,
      maxBatchClaim: cfg.max_batch_claim,
      heartbeatIntervalMs: config.worker.heartbeat_interval_secs * 1000,
      disconnectGraceMs: cfg.disconnect_grace_secs * 1000,
      maxInactivityMs: config.worker.max_inactivity_secs * 1000,
      events: metrics,
      presence: opened.presence,
      extraStats: () => ({ nodeId, backend: config.persistence.backend, connections: tcpServer?.connectionCount() ?? 0, ...opened.stats() }),
    });
    const theBroker = broker;
    undo.push(() => theBroker.close());
    await theBroker.start();
    metrics.attach(theBroker);

    scheduler = new Scheduler({
      store,
      clock,
      onTick: (outcome, nowMs) => {
        if (outcome.promoted > 0 || outcome.expired > 0) {
          log.debug("scheduler tick", { component: "scheduler", promoted: outcome.promoted, expired: outcome.expired, nextDueMs: outcome.nextDueMs });
        }
        metrics.ticked(outcome);
        theBroker.noteBackground("scheduler", { lastRunAtMs: nowMs, runs: 1, promoted: outcome.promoted, leasesExpired: outcome.expired });
        theBroker.afterTick(outcome);
      },
      log: (msg, err) => log.error(msg, { component: "scheduler", err }),
    });
    scheduler.start();
    const theScheduler = scheduler;
    undo.push(() => theScheduler.stop());

    // auto_compact: false stops the whole job, deletion included (the original spec's meaning):
    // finished tasks are then kept whatever completed_task_retention_days says.
    if (config.persistence.auto_compact) {
      const retention = startRetention({
        store,
        clock,
        retentionDays: config.persistence.completed_task_retention_days,
        intervalSecs: config.persistence.compact_interval_secs,
        autoCompact: true,
        log: (msg, err) => log.error(msg, { component: "retention", err }),
        onPass: (pass) => {
          log.debug("retention pass", { component: "retention", ...pass });
          theBroker.noteBackground("retention", { lastRunAtMs: clock.now(), runs: 1, purged: pass.purged, pagesFreed: pass.pagesFreed });
        },
      });
      undo.push(() => retention.stop());
    } else {
      log.info("compaction is off (persistence.auto_compact: false): finished tasks are kept and the database does not shrink", {
        key: "persistence.auto_compact",
      });
    }

    const auth = new Authenticator(config.auth.enabled, config.auth.api_keys);
    const tcp = bindOrExplain("broker.port", cfg.port, cfg.host, () =>
      startTcpServer(theBroker, {
        host: cfg.host,
        port: cfg.port,
        maxConnections: cfg.max_connections,
        maxConnectionsPerAddress: cfg.max_connections_per_address,
        idleTimeoutMs: cfg.idle_timeout_secs * 1000,
        frameTimeoutMs: cfg.frame_timeout_secs * 1000,
        authTimeoutMs: cfg.auth_timeout_secs * 1000,
        maxOutboundBytes: cfg.max_outbound_buffer_bytes,
        auth,
        maxAuthFailures: config.auth.max_failures_per_connection,
        serverVersion: versionInfo().version,
        heartbeatIntervalMs: config.worker.heartbeat_interval_secs * 1000,
        defaultLeaseMs: cfg.worker_lease_timeout_secs * 1000,
        maxBatchClaim: cfg.max_batch_claim,
        ...(tls ? { tls: bunTlsOptions(tls) } : {}),
        log: log.child({ component: "net" }),
        clock,
        onAuthFailure: () => metrics.authFailure("tcp"),
        onProtocolError: (code) => metrics.protocolError("tcp", code),
        onConnectionRefused: (reason) => metrics.connectionRefused(reason),
      }),
    );
    // Shutdown, last-first: stop accepting, stop taking work (parked claims and result waits
    // answered ShuttingDown), answer ShuttingDown to whatever is read from now on, let requests
    // already being committed finish and their replies go out, then close.
    undo.push(async () => {
      tcp.stopAccepting();
      theBroker.close();
      await tcp.closeAll(DRAIN_TIMEOUT_MS);
    });
    tcpServer = tcp;
    addresses["broker.port"] = `${tcp.hostname}:${tcp.port}`;
    let tcpAccepting = true;
    let grpcAccepting = config.api.grpc_enabled;
    undo.push(() => {
      tcpAccepting = false;
      grpcAccepting = false;
    });

    // The REST API binds where the protocol does: one host setting for both front doors.
    const http = bindOrExplain("api.rest_port", config.api.rest_port, cfg.host, () =>
      startHttpServer(theBroker, {
        host: cfg.host,
        port: config.api.rest_port,
        auth,
        log: log.child({ component: "http" }),
        serverVersion: versionInfo().version,
        clock,
        ...(tls ? { tls } : {}),
        hooks: metrics,
        listeners: () => ({ "broker.port": tcpAccepting, ...(config.api.grpc_enabled ? { "api.grpc_port": grpcAccepting } : {}) }),
        ...(opened.disk === null ? {} : { disk: opened.disk }),
      }),
    );
    httpServer = http;
    undo.push(() => http.stop(true));
    addresses["api.rest_port"] = `${http.hostname}:${http.port}`;

    const metricsServer = bindOrExplain("monitoring.prometheus_port", config.monitoring.prometheus_port, cfg.host, () =>
      startMetricsServer(metrics, {
        host: cfg.host,
        port: config.monitoring.prometheus_port,
        auth,
        requireAuth: config.auth.metrics_require_auth,
        log: log.child({ component: "metrics" }),
        ...(tls ? { tls } : {}),
      }),
    );
    undo.push(() => metricsServer.stop());
    addresses["monitoring.prometheus_port"] = `${metricsServer.hostname}:${metricsServer.port}`;
    if (config.api.grpc_enabled) {
      // Loaded only when served: grpc-js and the .proto parse cost a start that does not use them.
      const { startGrpcServer } = await import("./grpc/grpc-server.ts");
      const grpcPort = config.api.grpc_port;
      let grpc: GrpcServer;
      try {
        grpc = await startGrpcServer(theBroker, {
          host: cfg.host,
          port: grpcPort,
          maxConnections: cfg.max_connections,
          maxConnectionsPerAddress: cfg.max_connections_per_address,
          idleTimeoutMs: cfg.idle_timeout_secs * 1000,
          auth,
          maxAuthFailures: config.auth.max_failures_per_connection,
          ...(tls ? { tls: bunTlsOptions(tls) } : {}),
          serverVersion: versionInfo().version,
          heartbeatIntervalMs: config.worker.heartbeat_interval_secs * 1000,
          defaultLeaseMs: cfg.worker_lease_timeout_secs * 1000,
          maxBatchClaim: cfg.max_batch_claim,
          log: log.child({ component: "grpc" }),
          extraStats: () => ({ connections: tcpServer?.connectionCount() ?? 0 }),
          onRequest: (method, status) => metrics.grpcRequest(method, status),
          onAuthFailure: () => metrics.authFailure("grpc"),
          onProtocolError: (code) => metrics.protocolError("grpc", code),
          onConnectionRefused: (reason) => metrics.connectionRefused(reason),
        });
      } catch (err) {
        throw listenError(err, "api.grpc_port", grpcPort, cfg.host);
      }
      grpcServer = grpc;
      undo.push(async () => {
        grpc.stopAccepting();
        theBroker.close();
        await grpc.closeAll(DRAIN_TIMEOUT_MS);
      });
      addresses["api.grpc_port"] = `${grpc.hostname}:${grpc.port}`;
    } else {
      log.info("gRPC API off (api.grpc_enabled: false): nothing listens on api.grpc_port", { key: "api.grpc_enabled" });
    }
    metrics.countConnectionsWith(() => ({ tcp: tcp.connectionCount(), http: http.requestsInFlight(), grpc: grpcServer?.connectionCount() ?? 0 }));

    let stopping: Promise<void> | undefined;
    return {
      addresses,
      dataDir: opened.dataDir,
      broker: theBroker,
      metrics,
      stop(reason = "stop requested") {
        stopping ??= (async () => {
          log.info("stopping", { reason });
          await runUndo();
          log.info("stopped", { reason });
        })();
        return stopping;
      },
    };
  } catch (err) {
    await runUndo();
    throw err;
  }
}
