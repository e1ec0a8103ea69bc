// Prometheus metrics on a private prom-client Registry: counters fed by BrokerEvents and the
// front doors' hooks, gauges read from one broker.stats() snapshot per scrape. Owns no queue state and no
// listener (http/metrics-server.ts serves it); label values are bounded (no task ids, queues capped).

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { TallyHistogram, type Tally } from "./tally-histogram.ts";
import type { BrokerEvents, BrokerStats } from "./broker/broker.ts";
import { errorSpec } from "./protocol/errors.ts";
import { systemClock, type Clock } from "./clock.ts";
import type { TickOutcome } from "./store/store.ts";
import type { CompletedInfo, FailureOutcome } from "./rules/task.ts";

/** Queues that get their own label value; later ones share "other" so a queue-per-user pattern cannot explode the series count. */
export const DEFAULT_MAX_QUEUE_LABELS = 50;
export const OTHER_QUEUE_LABEL = "other";

/** Run times from 5 ms to 10 minutes: tasks are anything from a cache refresh to a video encode. */
const PROCESSING_BUCKETS_SECS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
/** Group commits are fsync-bound: 50 µs (no fsync, tmpfs) to 1 s (a struggling disk). */
const COMMIT_BUCKETS_SECS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/**
 * The prom-client default metrics kept: those that are true on a Bun process and valid for
 * `promtool check metrics`. An allow-list, so a default added by a later prom-client is left out
 * until checked. Dropped: nodejs_version_info (the Node.js version Bun emulates, not Bun's),
 * nodejs_active_{handles,requests,resources}[_total] (always 0 on Bun; gauges named _total fail
 * promtool), nodejs_heap_space_size_* (V8 heap spaces, zeros on JavaScriptCore),
 * nodejs_heap_size_* / nodejs_external_memory_bytes / process_heap_bytes (V8's figures; on Bun
 * used equals total, and VmData counts gigabytes of reserved address space), and
 * nodejs_gc_duration_seconds (Bun emits no GC performance entries: it would say "no GC ever").
 */
const TRUE_DEFAULT_METRICS = new Set([
  "process_cpu_user_seconds_total",
  "process_cpu_system_seconds_total",
  "process_cpu_seconds_total",
  "process_start_time_seconds",
  "process_resident_memory_bytes",
  "process_virtual_memory_bytes",
  "process_open_fds",
  "process_max_fds",
  // perf_hooks.monitorEventLoopDelay measures Bun's event loop (checked: a 300 ms busy loop shows as max 0.3 s).
  "nodejs_eventloop_lag_seconds",
  "nodejs_eventloop_lag_min_seconds",
  "nodejs_eventloop_lag_max_seconds",
  "nodejs_eventloop_lag_mean_seconds",
  "nodejs_eventloop_lag_stddev_seconds",
  "nodejs_eventloop_lag_p50_seconds",
  "nodejs_eventloop_lag_p90_seconds",
  "nodejs_eventloop_lag_p99_seconds",
]);

/** Period of the event-loop lag histogram's timer (prom-client's eventLoopMonitoringPrecision). */
export const EVENT_LOOP_SAMPLE_MS = 100;

export interface MetricsOptions {
  /** Distinct queue label values before the rest are folded into "other". */
  maxQueueLabels?: number;
  /** Register prom-client's process metrics that hold on Bun (CPU, memory, fds, event-loop lag). */
  processMetrics?: boolean;
  /** The broker's clock: queue ages are measured against the time the store stamped them with. */
  clock?: Clock;
}

/** What the gauges read at scrape time; the broker satisfies it. */
export interface StatsSource {
  stats(): Promise<BrokerStats>;
}

export type FrontDoor = "tcp" | "http" | "grpc";

/** Maps queue names onto at most `max` label values, first come first served, then "other". */
export class QueueLabels {
  private readonly known = new Set<string>();

  constructor(private readonly max: number) {}

  label(queue: string): string {
    if (this.known.has(queue)) return queue;
    // "other" is reserved: a queue really named "other" must not be mistaken for the overflow bucket.
    if (this.known.size < this.max && queue !== OTHER_QUEUE_LABEL) {
      this.known.add(queue);
      return queue;
    }
    return OTHER_QUEUE_LABEL;
  }
}

export class Metrics implements BrokerEvents {
  readonly registry = new Registry();
  private readonly queueLabels: QueueLabels;
  private source: StatsSource | null = null;
  /** The broker's stats as of this scrape: taken once per render, read by every gauge. */
  private snapshot: BrokerStats | null = null;
  private connections: () => Record<FrontDoor, number> = () => ({ tcp: 0, http: 0, grpc: 0 });
  private node = { nodeId: "", backend: "" };

  // The six metrics of the original spec.
  private readonly tasksTotal: Counter<"outcome">;
  private readonly processing: TallyHistogram;
  /**
   * The per-completion hot path writes plain numbers (prom-client hashes a label object on every
   * call): completions counted here join tq_tasks_total at scrape time, run times are tallied.
   */
  private completedUnscraped = 0;
  private readonly processingByQueue = new Map<string, Tally>();
  // Operator metrics.
  private readonly submittedTotal: Counter;
  private readonly claimedTotal: Counter;
  private readonly retriesTotal: Counter;
  private readonly leaseExpiriesTotal: Counter;
  private readonly reclaimedTotal: Counter<"reason">;
  private readonly queueFullTotal: Counter;
  private readonly authFailuresTotal: Counter<"front_door">;
  private readonly protocolErrorsTotal: Counter<"front_door" | "code">;
  private readonly connectionsRefusedTotal: Counter<"reason">;
  private readonly httpRequestsTotal: Counter<"route" | "status">;
  private readonly grpcRequestsTotal: Counter<"method" | "code">;
  private readonly groupCommit: Histogram;
  private readonly groupCommitOps: Counter;

  constructor(options: MetricsOptions = {}) {
    this.queueLabels = new QueueLabels(options.maxQueueLabels ?? DEFAULT_MAX_QUEUE_LABELS);
    const registers = [this.registry];
    const stats = (): BrokerStats | null => this.snapshot;
    const clock = options.clock ?? systemClock;
    const now = (): number => clock.now();

    const takeCompleted = (): number => {
      const n = this.completedUnscraped;
      this.completedUnscraped = 0;
      return n;
    };
    this.tasksTotal = new Counter({
      name: "tq_tasks_total",
      help: "Task runs that ended, by outcome: completed, failed (a retry is scheduled) or dead (retries used up or unrecoverable).",
      labelNames: ["outcome"],
      registers,
      collect() {
        this.inc({ outcome: "completed" }, takeCompleted());
      },
    });
    for (const outcome of ["completed", "failed", "dead"]) this.tasksTotal.inc({ outcome }, 0);

    new Gauge({
      name: "tq_tasks_pending",
      help: "Tasks ready to be claimed now, over all queues.",
      registers,
      collect() {
        this.set(stats()?.tasks.pending ?? 0);
      },
    });
    new Gauge({
      name: "tq_tasks_in_progress",
      help: "Tasks claimed by a worker and not yet reported.",
      registers,
      collect() {
        this.set(stats()?.tasks.inProgress ?? 0);
      },
    });
    this.processing = new TallyHistogram({
      name: "tq_task_processing_duration_seconds",
      help: "Time from claim to a completed result, per queue.",
      labelName: "queue",
      buckets: PROCESSING_BUCKETS_SECS,
      registers,
    });
    new Gauge({
      name: "tq_workers_connected",
      help: "Workers the registry knows (registered or heard from, not yet declared dead).",
      registers,
      collect() {
        this.set(stats()?.workers ?? 0);
      },
    });
    new Gauge({
      name: "tq_broker_queue_depth",
      help: "Ready tasks by priority tier (high 200-255, normal 100-199, low 0-99), over all queues.",
      labelNames: ["priority"],
      registers,
      collect() {
        const sum = { high: 0, normal: 0, low: 0 };
        for (const q of stats()?.tasks.queues ?? []) {
          sum.high += q.pending.high;
          sum.normal += q.pending.normal;
          sum.low += q.pending.low;
        }
        for (const [priority, n] of Object.entries(sum)) this.set({ priority }, n);
      },
    });

    new Gauge({
      name: "tq_tasks_scheduled",
      help: "Tasks waiting for their run_at (delayed, or failed and waiting for the retry).",
      registers,
      collect() {
        this.set(stats()?.tasks.scheduled ?? 0);
      },
    });
    const labels = this.queueLabels;
    new Gauge({
      name: "tq_queue_pending_tasks",
      help: "Ready tasks per queue (queues past the label cap are summed under \"other\").",
      labelNames: ["queue"],
      registers,
      collect() {
        this.reset();
        const byLabel = new Map<string, number>();
        for (const q of stats()?.tasks.queues ?? []) {
          const label = labels.label(q.queue);
          byLabel.set(label, (byLabel.get(label) ?? 0) + q.pending.high + q.pending.normal + q.pending.low);
        }
        for (const [queue, n] of byLabel) this.set({ queue }, n);
      },
    });
    new Gauge({
      name: "tq_queue_oldest_ready_age_seconds",
      help: "Age of the oldest ready task per queue: how far behind the workers are (0 when none is ready).",
      labelNames: ["queue"],
      registers,
      collect() {
        this.reset();
        const s = stats();
        if (!s) return;
        const nowMs = now();
        const byLabel = new Map<string, number>();
        for (const q of s.tasks.queues) {
          const label = labels.label(q.queue);
          const ageSecs = q.oldestReadyAtMs === null ? 0 : Math.max(0, (nowMs - q.oldestReadyAtMs) / 1000);
          byLabel.set(label, Math.max(byLabel.get(label) ?? 0, ageSecs));
        }
        for (const [queue, age] of byLabel) this.set({ queue }, age);
      },
    });
    new Gauge({
      name: "tq_queue_paused",
      help: "1 for each paused queue (claims skip it).",
      labelNames: ["queue"],
      registers,
      collect() {
        this.reset();
        for (const queue of stats()?.pausedQueues ?? []) this.set({ queue: labels.label(queue) }, 1);
      },
    });
    new Gauge({
      name: "tq_claims_waiting",
      help: "Blocking claims parked until a task is ready.",
      registers,
      collect() {
        this.set(stats()?.parkedClaims ?? 0);
      },
    });
    const connections = (): Record<FrontDoor, number> => this.connections();
    new Gauge({
      name: "tq_connections_open",
      help: "Open client connections per front door (tcp: protocol sockets; http: requests in flight; grpc: HTTP/2 connections).",
      labelNames: ["front_door"],
      registers,
      collect() {
        for (const [door, n] of Object.entries(connections())) this.set({ front_door: door }, n);
      },
    });

    const node = (): { nodeId: string; backend: string } => this.node;
    new Gauge({
      name: "tq_node_info",
      help: "Always 1: this broker's node id (raft.node_id) and store backend (persistence.backend). Task gauges count the whole cluster's tasks; connection and event counters are this broker's own.",
      labelNames: ["node_id", "backend"],
      registers,
      collect() {
        this.reset();
        this.set({ node_id: node().nodeId, backend: node().backend }, 1);
      },
    });

    this.submittedTotal = new Counter({ name: "tq_tasks_submitted_total", help: "Tasks accepted (idempotent duplicates not counted).", registers });
    this.claimedTotal = new Counter({ name: "tq_tasks_claimed_total", help: "Tasks handed to a worker under a lease.", registers });
    this.retriesTotal = new Counter({
      name: "tq_task_retries_total",
      help: "Failed runs rescheduled with backoff (equals tq_tasks_total{outcome=\"failed\"}; kept for dashboards that expect it).",
      registers,
    });
    this.leaseExpiriesTotal = new Counter({
      name: "tq_lease_expiries_total",
      help: "Leases that ran out before the worker reported: the task went back to pending (or dead).",
      registers,
    });
    this.reclaimedTotal = new Counter({
      name: "tq_tasks_reclaimed_total",
      help: "Tasks taken back from workers: worker_dead, deregistered, or released (handed back unstarted).",
      labelNames: ["reason"],
      registers,
    });
    for (const reason of ["worker_dead", "deregistered", "released"]) this.reclaimedTotal.inc({ reason }, 0);
    this.queueFullTotal = new Counter({
      name: "tq_queue_full_rejections_total",
      help: "Submits refused with QueueFull (pending tasks at broker.queue_depth_threshold).",
      registers,
    });
    this.authFailuresTotal = new Counter({
      name: "tq_auth_failures_total",
      help: "Requests or Hellos with a missing or invalid API key, per front door.",
      labelNames: ["front_door"],
      registers,
    });
    this.protocolErrorsTotal = new Counter({
      name: "tq_protocol_errors_total",
      help: "Error replies sent, by front door and error name from the error table.",
      labelNames: ["front_door", "code"],
      registers,
    });
    this.connectionsRefusedTotal = new Counter({
      name: "tq_connections_refused_total",
      help: "Protocol and gRPC connections refused (max_connections, max_connections_per_address, protected_mode) or TCP ones cut for holding a slot (frame_timeout, auth_timeout).",
      labelNames: ["reason"],
      registers,
    });
    this.httpRequestsTotal = new Counter({
      name: "tq_http_requests_total",
      help: "REST API requests by route template (never the raw path) and status code.",
      labelNames: ["route", "status"],
      registers,
    });
    this.grpcRequestsTotal = new Counter({
      name: "tq_grpc_requests_total",
      help: "gRPC calls ended, by method of tq.v1.Broker (Work: one per worker stream) and gRPC status code name (OK, INVALID_ARGUMENT, ...).",
      labelNames: ["method", "code"],
      registers,
    });
    this.groupCommit = new Histogram({
      name: "tq_group_commit_duration_seconds",
      help: "Time of one store COMMIT (with its fsync), which acknowledges every write of its group.",
      buckets: COMMIT_BUCKETS_SECS,
      registers,
    });
    this.groupCommitOps = new Counter({
      name: "tq_group_commit_operations_total",
      help: "Store operations acknowledged by group commits (divide by the commit count for the mean group size).",
      registers,
    });

    if (options.processMetrics ?? true) {
      const ours = new Set(this.registry.getMetricsAsArray().map((m) => m.name));
      // The lag histogram's timer every 100 ms, not prom-client's default 10 ms: at 10 ms it woke an
      // idle broker ~100 times a second, ~0.8% of a core on this VM (8 ms of CPU a second), for
      // samples that a 100 ms period still takes of any stall long enough to matter.
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
      for (const m of this.registry.getMetricsAsArray()) {
        if (!ours.has(m.name) && !TRUE_DEFAULT_METRICS.has(m.name)) this.registry.removeSingleMetric(m.name);
      }
    }
  }

  private processingTally(queue: string): Tally {
    let tally = this.processingByQueue.get(queue);
    if (tally === undefined) {
      tally = this.processing.tally(this.queueLabels.label(queue));
      // Queue names beyond the label cap share "other"; the map itself is bounded the same way.
      if (this.processingByQueue.size < 1000) this.processingByQueue.set(queue, tally);
    }
    return tally;
  }

  /** Gauges read this at every scrape; until attached they read 0. */
  attach(source: StatsSource): void {
    this.source = source;
  }

  /** This broker's node id and backend, for tq_node_info. */
  nodeIs(nodeId: string, backend: string): void {
    this.node = { nodeId, backend };
  }

  /** Open connections per front door, read at every scrape. */
  countConnectionsWith(read: () => Record<FrontDoor, number>): void {
    this.connections = read;
  }

  // ---- BrokerEvents ----------------------------------------------------------------------

  submitted(count: number): void {
    this.submittedTotal.inc(count);
  }

  claimed(count: number): void {
    this.claimedTotal.inc(count);
  }

  completed(task: CompletedInfo, nowMs: number): void {
    this.completedUnscraped++;
    this.processing.record(this.processingTally(task.queue), Math.max(0, nowMs - task.startedAtMs) / 1000);
  }

  failed(outcome: FailureOutcome): void {
    this.tasksTotal.inc({ outcome: outcome.status });
    if (outcome.status === "failed") this.retriesTotal.inc();
  }

  reclaimed(count: number, reason: "worker_dead" | "deregistered" | "released"): void {
    this.reclaimedTotal.inc({ reason }, count);
  }

  queueFull(): void {
    this.queueFullTotal.inc();
  }

  // ---- other hooks -----------------------------------------------------------------------

  /** The scheduler's onTick: lease expiries are only known there. */
  ticked(outcome: TickOutcome): void {
    if (outcome.expired > 0) this.leaseExpiriesTotal.inc(outcome.expired);
  }

  /** The store's commit hook. */
  groupCommitted(operations: number, commitMs: number): void {
    this.groupCommit.observe(commitMs / 1000);
    this.groupCommitOps.inc(operations);
  }

  authFailure(frontDoor: FrontDoor): void {
    this.authFailuresTotal.inc({ front_door: frontDoor });
  }

  /** An error reply; the label is the table's name, so unknown codes collapse into "Internal". */
  protocolError(frontDoor: FrontDoor, code: number): void {
    this.protocolErrorsTotal.inc({ front_door: frontDoor, code: errorSpec(code).name });
  }

  /** A TCP connection refused at accept, or closed by the frame or auth deadline. */
  connectionRefused(reason: string): void {
    this.connectionsRefusedTotal.inc({ reason });
  }

  /** `route` must be a route template such as "GET /api/v1/tasks/{id}", never the raw path. */
  httpRequest(route: string, status: number): void {
    this.httpRequestsTotal.inc({ route, status: String(status) });
  }

  /** `method` is one of tq.v1.Broker's (a bounded set), `code` a gRPC status name. */
  grpcRequest(method: string, code: string): void {
    this.grpcRequestsTotal.inc({ method, code });
  }

  /** The Prometheus text exposition. */
  async render(): Promise<string> {
    this.snapshot = (await this.source?.stats()) ?? null;
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
