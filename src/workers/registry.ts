// Who is working: registered workers, their last heartbeat, their load, and what the operator
// asked of them (quiet, shutdown). Decides when a worker is dead; does not touch tasks itself —
// the broker reclaims a dead worker's leases through the store.

export const WorkerCommand = { none: 0, quiet: 1, shutdown: 2 } as const;
export type WorkerCommandValue = (typeof WorkerCommand)[keyof typeof WorkerCommand];

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
export type WorkerNotice = { kind: "taskCancelled"; id: string; token: number };

/** The connection a worker registered on (or last spoke on): it alone acts for the worker. */
export interface WorkerOwner {
  connectionId: number;
  /** Name of the API key that connection authenticated with ("anonymous" with auth off). */
  principal: string;
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
  /** Registered explicitly, or made up on a first heartbeat or claim. */
  autoRegistered: boolean;
  /**
   * Known only as "the client on this connection" (it claimed without registering or
   * heartbeating): it lives as long as its connection, so silence alone does not kill it.
   */
  connectionBound: boolean;
  command: WorkerCommandValue;
  /** Null for a worker registered in-process (tests, embedding). */
  owner: WorkerOwner | null;
}

export interface RegistryOptions {
  heartbeatIntervalMs: number;
  /** A worker whose connection closed keeps its tasks this long, in case it reconnects. */
  disconnectGraceMs: number;
}

export interface HeartbeatIn {
  cpuPercent: number;
  memoryMb: number;
  inFlight: number;
}

export class WorkerRegistry {
  private readonly workers = new Map<string, WorkerState>();

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
      autoRegistered,
      connectionBound: false,
      command: previous?.command ?? WorkerCommand.none,
      owner,
    };
    this.workers.set(info.id, state);
    return state;
  }

  /**
   * Records a sign of life; a worker not seen before is registered with what is known, bound to
   * its connection when `connectionBound` (a claim from a client that never registered).
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
    if (state && (state.owner === null || state.owner.connectionId === connectionId)) state.disconnectedAtMs = nowMs;
  }

  remove(id: string): boolean {
    return this.workers.delete(id);
  }

  get(id: string): WorkerState | undefined {
    return this.workers.get(id);
  }

  setCommand(id: string, command: WorkerCommandValue): boolean {
    const state = this.workers.get(id);
    if (!state) return false;
    state.command = command;
    return true;
  }

  list(): WorkerState[] {
    return [...this.workers.values()];
  }

  get size(): number {
    return this.workers.size;
  }

  /**
   * Workers to declare dead now: silent for two heartbeat intervals, or disconnected for longer
   * than the grace period. Returns them and forgets them; also returns when the next check is due.
   */
  reapDead(nowMs: number): { dead: WorkerState[]; nextCheckMs: number | null } {
    const silentLimitMs = 2 * this.options.heartbeatIntervalMs;
    const dead: WorkerState[] = [];
    let nextCheckMs: number | null = null;
    for (const state of this.workers.values()) {
      const silentDueMs = state.connectionBound ? Infinity : state.lastSeenAtMs + silentLimitMs;
      const goneDueMs = state.disconnectedAtMs === null ? Infinity : state.disconnectedAtMs + this.options.disconnectGraceMs;
      const dueMs = Math.min(silentDueMs, goneDueMs);
      if (dueMs <= nowMs) {
        dead.push(state);
      } else if (dueMs !== Infinity && (nextCheckMs === null || dueMs < nextCheckMs)) {
        nextCheckMs = dueMs;
      }
    }
    for (const state of dead) this.workers.delete(state.id);
    return { dead, nextCheckMs };
  }
}

function anonymousInfo(id: string): WorkerInfo {
  return { id, hostname: "", pid: 0, queues: [], concurrency: 0, version: "", labels: {} };
}
