// Queue, worker and stats views for the REST API: the broker's camelCase records rendered with
// snake_case names, durations in ms. Shapes only; the numbers come from broker.stats() as they are.

import type { BrokerStats } from "../broker/broker.ts";
import type { QueueCounts, Task } from "../rules/task.ts";
import { workerStatus, type WorkerState } from "../workers/registry.ts";

export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Plain objects get snake_case keys all the way down; arrays and other values are kept as they are. */
function snakeDeep(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [snakeCase(k), snakeDeep(v)]));
}

/** Fields of BrokerStats rendered by name below; anything else the broker adds is passed through. */
const KNOWN_STATS = new Set(["uptimeMs", "tasks", "workers", "parkedClaims", "resultWaiters", "pausedQueues", "totals", "background"]);

export function queueJson(counts: QueueCounts, paused: boolean, nowMs: number): Record<string, unknown> {
  const p = counts.pending;
  return {
    name: counts.queue,
    pending: { high: p.high, normal: p.normal, low: p.low },
    pending_total: p.high + p.normal + p.low,
    scheduled: counts.scheduled,
    in_progress: counts.inProgress,
    oldest_ready_age_ms: counts.oldestReadyAtMs === null ? null : Math.max(0, nowMs - counts.oldestReadyAtMs),
    paused,
    retrying: counts.retrying,
    completed: counts.completed,
    dead: counts.dead,
    cancelled: counts.cancelled,
  };
}

/** Every queue with tasks, plus paused queues that are empty (a pause must stay visible). */
export function queuesJson(stats: BrokerStats, nowMs: number): Record<string, unknown>[] {
  const paused = new Set(stats.pausedQueues);
  const out = stats.tasks.queues.map((q) => queueJson(q, paused.has(q.queue), nowMs));
  const listed = new Set(stats.tasks.queues.map((q) => q.queue));
  for (const name of stats.pausedQueues) {
    if (!listed.has(name)) {
      const empty = { queue: name, pending: { high: 0, normal: 0, low: 0 }, scheduled: 0, inProgress: 0, oldestReadyAtMs: null, retrying: 0, completed: 0, dead: 0, cancelled: 0 };
      out.push(queueJson(empty, true, nowMs));
    }
  }
  return out.sort((a, b) => String(a.name).localeCompare(String(b.name)));
}

/** Running tasks listed per worker (the count is always whole). */
export const MAX_RUNNING_SHOWN = 50;

/** What a worker holds now: its leased tasks (at most MAX_RUNNING_SHOWN of them) and how many. */
export interface WorkerRunning {
  tasks: readonly Task[];
  count: number;
}

export function workerJson(w: WorkerState, running?: WorkerRunning): Record<string, unknown> {
  const extra =
    running === undefined
      ? {}
      : {
          running: running.tasks.map((t) => ({ id: t.id, type: t.type, queue: t.queue, started_at_ms: t.startedAtMs, lease_expires_at_ms: t.leaseExpiresAtMs })),
          running_count: running.count,
        };
  return {
    id: w.id,
    status: workerStatus(w),
    address: w.owner?.address ?? null,
    hostname: w.hostname,
    pid: w.pid,
    queues: w.queues,
    concurrency: w.concurrency,
    version: w.version,
    labels: w.labels,
    registered_at_ms: w.registeredAtMs,
    last_seen_at_ms: w.lastSeenAtMs,
    disconnected_at_ms: w.disconnectedAtMs,
    dead_at_ms: w.deadAtMs,
    cpu_percent: w.cpuPercent,
    memory_mb: w.memoryMb,
    in_flight: w.inFlight,
    auto_registered: w.autoRegistered,
    command: w.command,
    ...extra,
  };
}

export function statsJson(stats: BrokerStats, nowMs: number): Record<string, unknown> {
  const extra = Object.fromEntries(Object.entries(stats).filter(([k]) => !KNOWN_STATS.has(k)));
  return {
    uptime_ms: stats.uptimeMs,
    tasks: {
      pending: stats.tasks.pending,
      scheduled: stats.tasks.scheduled,
      in_progress: stats.tasks.inProgress,
      retrying: stats.tasks.retrying,
      completed: stats.tasks.completed,
      dead: stats.tasks.dead,
      cancelled: stats.tasks.cancelled,
      queues: queuesJson(stats, nowMs),
    },
    workers: stats.workers,
    parked_claims: stats.parkedClaims,
    result_waiters: stats.resultWaiters,
    paused_queues: stats.pausedQueues,
    totals: snakeDeep(stats.totals),
    background: snakeDeep(stats.background),
    ...(snakeDeep(extra) as Record<string, unknown>),
  };
}
