// Who is working: registered workers, their last heartbeat, their load, where they connect from,
// what the operator asked of them (quiet, shutdown), and when they died or are forgotten. Does not
// touch tasks itself — the broker reclaims a dead worker's leases through the store.

import { WORKER_COMMAND_BYTE, type WorkerCommand } from "../protocol/wire-values.ts";

/** What ListWorkers and the REST API show: dead until forgotten, else what the operator asked. */
export const WORKER_STATUSES = ["alive", "quiet", "shutting_down", "dead"] as const;
export type WorkerStatus = (typeof WORKER_STATUSES)[number];

export interface WorkerInfo {
  id: string;
  hostname: string;
  pid: number;
  queues: string[];
  concurrency: number;
  version: string;
  labels: Record<string, string>;
}

/** What the broker may push to a worker unasked (when its connection enabled such notices). */
export type WorkerNotice = { kind: "taskCancelled"; id: string; token: number } | { kind: "command"; command: "quiet" | "shutdown" };

/** The connection a worker registered on (or last spoke on): it alone acts for the worker. */
export interface WorkerOwner {
  connectionId: number;
  /** Name of the API key that connection authenticated with ("anonymous" with auth off). */
  principal: string;
  /** The connection's remote address, as the broker saw it. */
  address: string;
  /** Pushes a notice on that connection; it drops those the connection did not enable. */
  notify?: (notice: WorkerNotice) => void;
}

export interface WorkerState extends WorkerInfo {
  registeredAtMs: number;
  lastSeenAtMs: number;
  cpuPercent: number;
  memoryMb: number;
  inFlight: number;
  /** Set when its connection closed; cleared when it speaks again. */
  disconnectedAtMs: number | null;
  /** When it was declared dead (its tasks reclaimed); null while alive. Cleared if it speaks again. */
  deadAtMs: number | null;
  /** Registered explicitly, or made up on a first heartbeat or claim. */
  autoRegistered: boolean;
  /**
   * Known only as "the client on this connection" (it claimed without registering or
   * heartbeating): it lives as long as its connection, so silence alone does not kill it.
   */
  connectionBound: boolean;
  /** What the operator asked; the wire sends it as WORKER_COMMAND_BYTE. */
  command: WorkerCommand;
  /** Null for a worker registered in-process (tests, embedding). */
  owner: WorkerOwner | null;
}

export interface RegistryOptions {
  heartbeatIntervalMs: number;
  /** A worker whose connection closed keeps its tasks this long, in case it reconnects. */
  disconnectGraceMs: number;
  /**
   * worker.max_inactivity_secs: a worker silent this long is deregistered — forgotten, and dead
   * first if the heartbeat rule had not declared it dead yet. See reapDead.
   */
  maxInactivityMs: number;
}

export interface HeartbeatIn {
  cpuPercent: number;
  memoryMb: number;
  inFlight: number;
}

/**
 * How long, and how many, dead workers stay visible after the registry forgot them: long enough
 * for an operator paged about a death to still see who died, where and when (the registry itself
 * forgets after worker.max_inactivity_secs, a minute by default).
 */
export const RECENTLY_DEAD_KEPT_MS = 60 * 60_000;
export const RECENTLY_DEAD_MAX = 100;

export class WorkerRegistry {
  private readonly workers = new Map<string, WorkerState>();
  /** Dead workers the registry forgot, oldest first: a copy without their connection. */
  private readonly forgottenDead: WorkerState[] = [];

  constructor(private readonly options: RegistryOptions) {}

  register(info: WorkerInfo, nowMs: number, owner: WorkerOwner | null = null, autoRegistered = false): WorkerState {
    const previous = this.workers.get(info.id);
    const state: WorkerState = {
      ...info,
      registeredAtMs: previous?.registeredAtMs ?? nowMs,
      lastSeenAtMs: nowMs,
      cpuPercent: previous?.cpuPercent ?? 0,
      memoryMb: previous?.memoryMb ?? 0,
      inFlight: previous?.inFlight ?? 0,
      disconnectedAtMs: null,
      deadAtMs: null,
      autoRegistered,
      connectionBound: false,
      command: previous?.command ?? "none",
      owner,
    };
    this.workers.set(info.id, state);
    return state;
  }

  /**
   * Records a sign of life; a worker not seen before is registered with what is known, bound to
   * its connection when `connectionBound` (a claim from a client that never registered). A dead
   * worker that speaks again is alive again (its tasks were reclaimed when it died).
   */
  touch(id: string, nowMs: number, owner: WorkerOwner | null = null, connectionBound = false): WorkerState {
    let state = this.workers.get(id);
    if (!state) {
      state = this.register(anonymousInfo(id), nowMs, owner, true);
      state.connectionBound = connectionBound;
    }
    if (owner !== null) state.owner = owner;
    state.lastSeenAtMs = nowMs;
    state.disconnectedAtMs = null;
    state.deadAtMs = null;
    return state;
  }

  heartbeat(id: string, load: HeartbeatIn, nowMs: number, owner: WorkerOwner | null = null): WorkerState {
    const state = this.touch(id, nowMs, owner);
    state.connectionBound = false;
    state.cpuPercent = load.cpuPercent;
    state.memoryMb = load.memoryMb;
    state.inFlight = load.inFlight;
    return state;
  }

  /** Connection `connectionId` closed: the worker is disconnected unless another connection owns it now. */
  disconnected(id: string, connectionId: number, nowMs: number): void {
    const state = this.workers.get(id);
    if (state && state.deadAtMs === null && (state.owner === null || state.owner.connectionId === connectionId)) state.disconnectedAtMs = nowMs;
  }

  remove(id: string): boolean {
    return this.workers.delete(id);
  }

  get(id: string): WorkerState | undefined {
    return this.workers.get(id);
  }

  setCommand(id: string, command: WorkerCommand): boolean {
    const state = this.workers.get(id);
    if (!state) return false;
    state.command = command;
    return true;
  }

  /** Every worker known, dead ones included until they are forgotten. */
  list(): WorkerState[] {
    return [...this.workers.values()];
  }

  /**
   * Workers that died in the last hour and were forgotten since (newest death first), unless one
   * with the same id is registered again: the dashboard's and REST's "recently dead".
   */
  recentlyDead(nowMs: number): WorkerState[] {
    this.pruneDead(nowMs);
    return this.forgottenDead.filter((w) => !this.workers.has(w.id)).reverse();
  }

  private rememberDead(state: WorkerState): void {
    const at = this.forgottenDead.findIndex((w) => w.id === state.id);
    if (at >= 0) this.forgottenDead.splice(at, 1);
    // Without the connection's notify closure: a forgotten worker holds no connection's memory.
    const owner = state.owner === null ? null : { connectionId: state.owner.connectionId, principal: state.owner.principal, address: state.owner.address };
    this.forgottenDead.push({ ...state, owner });
    if (this.forgottenDead.length > RECENTLY_DEAD_MAX) this.forgottenDead.shift();
  }

  private pruneDead(nowMs: number): void {
    const kept = this.forgottenDead.filter((w) => (w.deadAtMs ?? 0) >= nowMs - RECENTLY_DEAD_KEPT_MS);
    this.forgottenDead.splice(0, this.forgottenDead.length, ...kept);
  }

  /** Workers not dead. */
  get size(): number {
    let n = 0;
    for (const state of this.workers.values()) if (state.deadAtMs === null) n++;
    return n;
  }

  /**
   * One pass of the liveness rules at `nowMs`. A worker is declared dead (returned, for its tasks
   * to be reclaimed) when it has been silent for two heartbeat intervals, or for
   * max_inactivity if that is shorter, or its connection has been closed for the grace period.
   * It stays listed as dead until it has been silent for max_inactivity, then it is deregistered
   * (forgotten). A connection-bound client is exempt from the silence rules. Also returns when
   * the next check is due.
   */
  reapDead(nowMs: number): { dead: WorkerState[]; nextCheckMs: number | null } {
    const silentLimitMs = Math.min(2 * this.options.heartbeatIntervalMs, this.options.maxInactivityMs);
    const dead: WorkerState[] = [];
    let nextCheckMs: number | null = null;
    const due = (atMs: number): void => {
      if (atMs !== Infinity && (nextCheckMs === null || atMs < nextCheckMs)) nextCheckMs = atMs;
    };
    for (const state of this.workers.values()) {
      if (state.deadAtMs === null) {
        const silentDueMs = state.connectionBound ? Infinity : state.lastSeenAtMs + silentLimitMs;
        const goneDueMs = state.disconnectedAtMs === null ? Infinity : state.disconnectedAtMs + this.options.disconnectGraceMs;
        const dueMs = Math.min(silentDueMs, goneDueMs);
        if (dueMs > nowMs) {
          due(dueMs);
          continue;
        }
        state.deadAtMs = nowMs;
        dead.push(state);
      }
      const forgetMs = Math.max(state.deadAtMs ?? nowMs, state.lastSeenAtMs + this.options.maxInactivityMs);
      if (forgetMs <= nowMs) {
        this.workers.delete(state.id);
        this.rememberDead(state);
      } else due(forgetMs);
    }
    return { dead, nextCheckMs };
  }
}

export function workerStatus(state: WorkerState): WorkerStatus {
  if (state.deadAtMs !== null) return "dead";
  if (state.command === "shutdown") return "shutting_down";
  if (state.command === "quiet") return "quiet";
  return "alive";
}

/**
 * A worker as ListWorkers sends it (one object of the JSON array; docs/PROTOCOL.md shows it key by
 * key): what it registered, its load from the last heartbeat, its status and where it connects from.
 */
export function workerView(state: WorkerState): Record<string, unknown> {
  return {
    id: state.id,
    status: workerStatus(state),
    address: state.owner?.address ?? null,
    hostname: state.hostname,
    pid: state.pid,
    queues: state.queues,
    concurrency: state.concurrency,
    version: state.version,
    labels: state.labels,
    registeredAtMs: state.registeredAtMs,
    lastSeenAtMs: state.lastSeenAtMs,
    disconnectedAtMs: state.disconnectedAtMs,
    deadAtMs: state.deadAtMs,
    cpuPercent: state.cpuPercent,
    memoryMb: state.memoryMb,
    inFlight: state.inFlight,
    autoRegistered: state.autoRegistered,
    command: WORKER_COMMAND_BYTE[state.command],
  };
}

function anonymousInfo(id: string): WorkerInfo {
  return { id, hostname: "", pid: 0, queues: [], concurrency: 0, version: "", labels: {} };
}
