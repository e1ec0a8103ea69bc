// The types the broker's commands take and give, apart from the store's: its options, hooks and
// log, a batched report's outcome, a heartbeat's reply and the stats. Types only.

import type { BrokerError } from "../protocol/errors.ts";
import type { Clock } from "../clock.ts";
import type { WorkerCommand } from "../protocol/wire-values.ts";
import type { WorkerPresence } from "../store/cluster.ts";
import type { ReportItem, Store } from "../store/store.ts";
import type { CompletedInfo, FailureOutcome, TaskCounts } from "../rules/task.ts";
import type { WorkerNotice } from "../workers/registry.ts";

export interface BrokerLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** Hooks for metrics; every one optional. Called after the change is committed. */
export interface BrokerEvents {
  submitted(count: number): void;
  claimed(count: number): void;
  completed(task: CompletedInfo, nowMs: number): void;
  failed(outcome: FailureOutcome): void;
  reclaimed(count: number, reason: "worker_dead" | "deregistered" | "released"): void;
  queueFull(): void;
}

export interface BrokerOptions {
  store: Store;
  clock: Clock;
  log: BrokerLog;
  queueDepthThreshold: number;
  defaultLeaseMs: number;
  defaultMaxRetries: number;
  maxBatchClaim: number;
  heartbeatIntervalMs: number;
  disconnectGraceMs: number;
  /** worker.max_inactivity_secs in ms: a worker silent this long is deregistered (see WorkerRegistry). */
  maxInactivityMs: number;
  events?: Partial<BrokerEvents>;
  /** Where each worker last spoke, cluster-wide (several brokers on one database); null or absent with one broker. */
  presence?: WorkerPresence | null;
  /** More figures for stats() from parts the broker does not own (listeners, store commits). */
  extraStats?: () => Record<string, unknown>;
}

/**
 * Who asks to act for a worker (register, heartbeat, deregister): the connection and its key. Only
 * the connection a worker is registered on, or an admin key, may act for it; see checkActsFor.
 */
export interface WorkerCaller {
  connectionId: number;
  /** The API key's name ("anonymous" with auth off). */
  principal: string;
  /** An admin key (with auth off, every client): may act for any worker. */
  admin: boolean;
  /** The connection's remote address, shown with the worker. */
  address: string;
  /** Pushes a notice to the worker on this connection (TaskCancelled), if it asked for them. */
  notify?: (notice: WorkerNotice) => void;
}

/** A caller inside the process (tests, embedding): trusted as an admin, owning nothing. */
export const IN_PROCESS: WorkerCaller = { connectionId: 0, principal: "in-process", admin: true, address: "" };

/** What a front door filters and pages by: the store's query shapes, as the broker takes them. */
export type { ListPage, ListQuery, TaskFilter } from "../store/store.ts";

/** One item of a batched report: complete or fail one lease, exactly as complete() / fail() would. */
export type ResultReport = ReportItem;

/** What one report came to: failure null = completed, an outcome = failed; or that item's own error. */
export type ReportSettled = { ok: true; failure: FailureOutcome | null } | { ok: false; error: BrokerError };

export interface HeartbeatReply {
  command: WorkerCommand;
  /** New lease expiry per in-flight task, null where the lease is lost. */
  renewed: (number | null)[];
}

export interface BrokerStats {
  uptimeMs: number;
  tasks: TaskCounts;
  workers: number;
  parkedClaims: number;
  resultWaiters: number;
  pausedQueues: string[];
  totals: Record<string, number>;
  /** What each background job did last: worker reaping, scheduler ticks, retention passes. */
  background: Record<string, Record<string, number | null>>;
  [extra: string]: unknown;
}
