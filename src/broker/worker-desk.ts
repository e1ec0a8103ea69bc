// The broker's worker commands: register, heartbeat, deregister, operator commands, who may act
// for a worker (its connection or an admin), dead workers found on time and their tasks taken
// back, and notices pushed to a worker. Task rules stay in broker.ts; liveness rules in workers/.

import { BrokerError, ErrorCode } from "../protocol/errors.ts";
import type { Clock } from "../clock.ts";
import type { WorkerCommand } from "../protocol/wire-values.ts";
import type { WorkerPresence } from "../store/cluster.ts";
import type { Store } from "../store/store.ts";
import type { ExpiredLease, LeaseRef } from "../rules/task.ts";
import { WorkerRegistry, type HeartbeatIn, type WorkerInfo, type WorkerOwner, type WorkerState } from "../workers/registry.ts";
import { IN_PROCESS, type BrokerEvents, type BrokerLog, type HeartbeatReply, type WorkerCaller } from "./broker-types.ts";
import { checkQueueName } from "./submit-spec.ts";
import { WorkerReaper } from "./worker-reaper.ts";

/** Expired leases warned of one by one per scheduler tick; the rest are counted in one line. */
const MAX_EXPIRY_WARNINGS_PER_TICK = 100;

export interface WorkerDeskOptions {
  store: Store;
  clock: Clock;
  log: BrokerLog;
  events: Partial<BrokerEvents>;
  heartbeatIntervalMs: number;
  disconnectGraceMs: number;
  maxInactivityMs: number;
  /** Where each worker last spoke, cluster-wide; null with one broker. */
  presence: WorkerPresence | null;
  /** Tasks taken back from workers (deregistered or dead), for the broker's totals. */
  onReclaimed(count: number): void;
  /** What the reaper did, for the broker's stats. */
  onReaped(nowMs: number, dead: number): void;
  /** A worker is deregistering (it passed the check): nothing more may be handed to it. */
  onLeaving?(workerId: string): void;
  /** The tasks with these ids were taken back from the worker (deregistered or dead). */
  onTakenBack?(workerId: string, ids: readonly string[]): void;
}

export class WorkerDesk {
  readonly registry: WorkerRegistry;
  private readonly reaper: WorkerReaper;

  constructor(private readonly o: WorkerDeskOptions) {
    this.registry = new WorkerRegistry({
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      disconnectGraceMs: o.disconnectGraceMs,
      maxInactivityMs: o.maxInactivityMs,
    });
    this.reaper = new WorkerReaper({
      registry: this.registry,
      clock: o.clock,
      maxSleepMs: o.heartbeatIntervalMs,
      onDead: (worker) => this.reclaimDead(worker),
      onChecked: (nowMs, dead) => {
        o.onReaped(nowMs, dead);
        o.log.debug("worker reap", { dead, workers: this.registry.size });
      },
      onError: (err) => o.log.error("worker reap failed", { err }),
    });
  }

  register(info: WorkerInfo, caller: WorkerCaller): WorkerState {
    for (const queue of info.queues) checkQueueName("queues", queue);
    this.checkActsFor(info.id, caller);
    const nowMs = this.o.clock.now();
    this.o.presence?.workerSeen(info.id, nowMs);
    return this.registry.register(info, nowMs, ownerOf(caller));
  }

  /** A worker leaving on purpose: its unfinished tasks go back at once, not counted as attempts. */
  async deregister(workerId: string, caller: WorkerCaller): Promise<number> {
    this.checkActsFor(workerId, caller);
    this.registry.remove(workerId);
    this.o.presence?.workerGone(workerId);
    this.o.onLeaving?.(workerId);
    const ids = await this.o.store.reclaimWorker(workerId, false, this.o.clock.now());
    this.o.onTakenBack?.(workerId, ids);
    if (ids.length > 0) {
      this.o.onReclaimed(ids.length);
      this.o.events.reclaimed?.(ids.length, "deregistered");
      this.o.log.info("worker deregistered; tasks handed back", { worker: workerId, tasks: ids.length });
    }
    return ids.length;
  }

  async heartbeat(workerId: string, load: HeartbeatIn, inFlight: readonly LeaseRef[], caller: WorkerCaller): Promise<HeartbeatReply> {
    const nowMs = this.o.clock.now();
    this.checkActsFor(workerId, caller);
    this.o.presence?.workerSeen(workerId, nowMs);
    const state = this.registry.heartbeat(workerId, load, nowMs, ownerOf(caller));
    const renewed = inFlight.length === 0 ? [] : await this.o.store.renew(inFlight, nowMs);
    return { command: state.command, renewed };
  }

  /** The worker a claim is made for, made up if the claiming connection never registered one. */
  claimer(workerId: string, caller: WorkerCaller): WorkerState {
    const nowMs = this.o.clock.now();
    this.o.presence?.workerSeen(workerId, nowMs);
    return this.registry.touch(workerId, nowMs, ownerOf(caller), true);
  }

  disconnected(workerId: string, connectionId: number): void {
    this.registry.disconnected(workerId, connectionId, this.o.clock.now());
    this.reaper.poke(this.o.disconnectGraceMs);
  }

  setCommand(workerId: string, command: Exclude<WorkerCommand, "none">): WorkerState {
    const state = this.registry.get(workerId);
    if (!state) throw new BrokerError(ErrorCode.NotFound, `no worker with id ${JSON.stringify(workerId)}`, { field: "worker_id" });
    state.command = command;
    // The connection hears it now if it takes such notices (a gRPC worker stream does); every
    // worker hears it on its next heartbeat either way, so failing to tell it is only logged.
    try {
      state.owner?.notify?.({ kind: "command", command });
    } catch (err) {
      this.o.log.error("could not tell a worker the operator's command", { err, worker: workerId, command });
    }
    return state;
  }

  /** False for a worker told to quiet or shut down, or declared dead: its parked claims stay unserved. */
  mayTakeTasks(workerId: string): boolean {
    const worker = this.registry.get(workerId);
    return worker === undefined || (worker.command === "none" && worker.deadAtMs === null);
  }

  /** Tells the worker holding a cancelled task's lease, on its connection, if it enabled notices. */
  tellCancelled(workerId: string, taskId: string, token: number): void {
    // The cancel is committed: failing to tell the worker must not turn its reply into an error
    // (the worker still learns from its next heartbeat).
    try {
      this.registry.get(workerId)?.owner?.notify?.({ kind: "taskCancelled", id: taskId, token });
    } catch (err) {
      this.o.log.error("could not tell a worker its task was cancelled", { err, worker: workerId, task: taskId });
    }
  }

  /**
   * Leases that ran out without a result: a warning each, naming the task and the worker, as an
   * operator looks for one or the other; a mass expiry (a tick works through up to 2000) is
   * summed up past the first hundred.
   */
  leasesExpired(expired: readonly ExpiredLease[]): void {
    for (const lease of expired.slice(0, MAX_EXPIRY_WARNINGS_PER_TICK)) {
      this.o.log.warn("lease expired without a result; task goes back", { task: lease.id, worker: lease.workerId, lease_ms: lease.leaseMs, status: lease.status });
    }
    if (expired.length > MAX_EXPIRY_WARNINGS_PER_TICK) {
      this.o.log.warn("more leases expired in the same tick", { leases: expired.length - MAX_EXPIRY_WARNINGS_PER_TICK });
    }
  }

  /** Declares silent or long-disconnected workers dead and takes their tasks back now. */
  reap(): Promise<void> {
    return this.reaper.check();
  }

  stop(): void {
    this.reaper.stop();
  }

  /**
   * Only the connection a worker is registered on (or last spoke on) acts for it while that
   * connection is open; once it closed, a new connection with the same API key may take the worker
   * over (a reconnect). An admin key may always. Anything else is Forbidden, so a worker key cannot
   * deregister another worker (handing back its tasks) or take its place.
   */
  private checkActsFor(workerId: string, caller: WorkerCaller): void {
    const state = this.registry.get(workerId);
    if (state === undefined || state.owner === null || caller.admin || state.owner.connectionId === caller.connectionId) return;
    if (state.disconnectedAtMs === null) {
      throw new BrokerError(
        ErrorCode.Forbidden,
        `worker ${JSON.stringify(workerId)} is registered on another open connection; only that connection or an admin key may act for it`,
        { field: "worker_id" },
      );
    }
    if (state.owner.principal !== caller.principal) {
      throw new BrokerError(
        ErrorCode.Forbidden,
        `worker ${JSON.stringify(workerId)} was registered with another API key; only that key or an admin key may take it over`,
        { field: "worker_id" },
      );
    }
  }

  private async reclaimDead(worker: WorkerState): Promise<void> {
    // With several brokers, a worker whose connection here closed may be working through another
    // broker now (it reconnected there): that broker keeps it alive, this one just forgets it.
    const since = worker.disconnectedAtMs ?? worker.lastSeenAtMs;
    if (this.o.presence !== null && (await this.o.presence.workerSeenElsewhere(worker.id, since))) {
      this.registry.remove(worker.id);
      this.o.log.info("worker moved to another broker; its tasks stay with it", { worker: worker.id });
      return;
    }
    const ids = await this.o.store.reclaimWorker(worker.id, true, this.o.clock.now());
    this.o.onTakenBack?.(worker.id, ids);
    this.o.onReclaimed(ids.length);
    if (ids.length > 0) this.o.events.reclaimed?.(ids.length, "worker_dead");
    this.o.log.warn("worker dead; tasks reclaimed", {
      worker: worker.id,
      tasks: ids.length,
      reason: worker.disconnectedAtMs === null ? "missed heartbeats" : "connection closed",
    });
  }
}

function ownerOf(caller: WorkerCaller): WorkerOwner | null {
  if (caller === IN_PROCESS) return null;
  return { connectionId: caller.connectionId, principal: caller.principal, address: caller.address, notify: caller.notify };
}
