// The broker's commands: every rule of the queue that is not the store's (defaults, validation,
// backpressure, blocking claims and subscriptions, result waits, pause, shutdown); the worker
// commands through its WorkerDesk. The front doors call these and nothing else; no sockets, no encoding.

import { BrokerError, ErrorCode, toBrokerError } from "../protocol/errors.ts";
import { MAX_BATCH_SUBMIT, MAX_CLAIM_WAIT_MS, MAX_REPLY_TASK_BYTES, REPLY_BYTES_PER_TASK } from "../protocol/limits.ts";
import type { Clock } from "../clock.ts";
import type { ListPage, ListQuery, ReadyAhead, ReportItem, ReportItemResult, Store, TaskEnd, TaskFilter, TickOutcome } from "../store/store.ts";
import type { TaskRun } from "../rules/task.ts";
import type { CompletedInfo, FailureIn, FailureOutcome, Lease, LeaseRef, SubmitOutcome, Task, TaskCounts, TaskResultIn } from "../rules/task.ts";
import { FINISHED_STATUSES } from "../rules/task.ts";
import type { HeartbeatIn, WorkerInfo, WorkerRegistry, WorkerState } from "../workers/registry.ts";
import { IN_PROCESS, type BrokerEvents, type BrokerLog, type BrokerOptions, type BrokerStats, type HeartbeatReply, type ReportSettled, type ResultReport, type WorkerCaller } from "./broker-types.ts";
import { Activity } from "./activity.ts";
import { checkClaimCommand, type ClaimCommand } from "./claim-command.ts";
import { ClaimWaiters, type ClaimWaiter } from "./claim-waiters.ts";
import { ReadyBook, type Reservation } from "./ready-book.ts";
import { ResultWaiters } from "./result-waiters.ts";
import { Subscriptions, type SubscribeCommand, type Subscription } from "./subscriptions.ts";
import { checkQueueName, toNewTask, type SubmitSpec } from "./submit-spec.ts";
import { WorkerDesk } from "./worker-desk.ts";

export type { BrokerEvents, BrokerLog, BrokerOptions, BrokerStats, HeartbeatReply, ReportSettled, ResultReport, WorkerCaller } from "./broker-types.ts";
export type { ClaimCommand } from "./claim-command.ts";
export type { DeliverySink, SubscribeCommand } from "./subscriptions.ts";

const FINISHED = new Set<string>(FINISHED_STATUSES);
// How the lease is named in each kind of list whose leases end (module-level: no closure per call).
const asRef = (ref: LeaseRef): LeaseRef => ref;
const reportRef = (report: ResultReport): LeaseRef => report.lease;
/** Most tasks one delivery to a subscription carries (one frame; the reply budget bounds its bytes too). */
const MAX_DELIVERY_TASKS = 1000;

export class Broker {
  readonly workers: WorkerRegistry;
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly log: BrokerLog;
  private readonly options: BrokerOptions;
  private readonly events: Partial<BrokerEvents>;
  private readonly waiters: ClaimWaiters;
  private readonly subs: Subscriptions;
  /** Places in the line parked claims and hungry subscriptions share. */
  private tickets = 0;
  private readonly resultWaiters: ResultWaiters;
  private readonly readyBook = new ReadyBook();
  private readonly paused = new Set<string>();
  private readonly startedAtMs: number;
  private serving = false;
  private closed = false;
  private readonly desk: WorkerDesk;
  /** The last hour, for the dashboard's charts and per-queue rates. */
  readonly activity: Activity;
  readonly totals = { submitted: 0, claimed: 0, completed: 0, failed: 0, dead: 0, reclaimed: 0, queueFull: 0 };
  /** Every job listed from the start, with every figure, so GetStats keeps one shape (PROTOCOL.md). */
  private readonly background: Record<string, Record<string, number | null>> = {
    workers: { lastRunAtMs: null, runs: 0, reaped: 0 },
    scheduler: { lastRunAtMs: null, runs: 0, promoted: 0, leasesExpired: 0 },
    retention: { lastRunAtMs: null, runs: 0, purged: 0, pagesFreed: 0 },
  };

  constructor(options: BrokerOptions) {
    this.options = options;
    this.store = options.store;
    this.clock = options.clock;
    this.log = options.log;
    this.events = options.events ?? {};
    const ticket = (): number => ++this.tickets;
    this.waiters = new ClaimWaiters(this.clock, ticket);
    this.subs = new Subscriptions(ticket);
    this.resultWaiters = new ResultWaiters(this.clock);
    this.startedAtMs = this.clock.now();
    this.desk = new WorkerDesk({
      store: this.store,
      clock: this.clock,
      log: this.log,
      events: this.events,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      disconnectGraceMs: options.disconnectGraceMs,
      maxInactivityMs: options.maxInactivityMs,
      presence: options.presence ?? null,
      onReclaimed: (count) => {
        this.totals.reclaimed += count;
      },
      onReaped: (nowMs, dead) => this.noteBackground("workers", { lastRunAtMs: nowMs, runs: 1, reaped: dead }),
      onLeaving: (workerId) => this.subs.closeWorker(workerId),
      onTakenBack: (workerId, ids) => {
        this.subs.tasksTakenBack(workerId, ids);
        this.serveWaiters();
      },
    });
    this.workers = this.desk.registry;
    this.activity = new Activity({ clock: this.clock, counts: () => this.store.counts(), onError: (err) => this.log.warn("activity sample failed", { err }) });
  }

  // ---- producers -------------------------------------------------------------------------

  async submit(specs: readonly SubmitSpec[]): Promise<SubmitOutcome[]> {
    this.checkOpen();
    if (specs.length === 0) throw new BrokerError(ErrorCode.InvalidField, "tasks: expected at least one task", { field: "tasks" });
    if (specs.length > MAX_BATCH_SUBMIT) {
      throw new BrokerError(ErrorCode.InvalidField, `tasks: ${specs.length} tasks is over the batch limit of ${MAX_BATCH_SUBMIT}`, { field: "tasks" });
    }
    const nowMs = this.clock.now();
    const defaults = { leaseMs: this.options.defaultLeaseMs, maxRetries: this.options.defaultMaxRetries };
    const batch = specs.length > 1;
    const tasks = specs.map((spec, i) => toNewTask(spec, defaults, nowMs, batch ? `tasks[${i}].` : ""));
    const pending = await this.store.pendingCount();
    if (pending + tasks.length > this.options.queueDepthThreshold) {
      this.totals.queueFull++;
      this.events.queueFull?.();
      throw new BrokerError(
        ErrorCode.QueueFull,
        `queue full: ${pending} pending tasks, the limit (broker.queue_depth_threshold) is ${this.options.queueDepthThreshold}`,
        { retryAfterMs: 1000 },
      );
    }
    const outcomes = await this.store.submit(tasks, nowMs);
    const created = outcomes.reduce((n, o) => (o.duplicate ? n : n + 1), 0);
    this.totals.submitted += created;
    this.events.submitted?.(created);
    this.activity.submittedTasks(created);
    return outcomes;
  }

  async get(id: string): Promise<Task> {
    const task = await this.store.get(id);
    if (!task) throw notFound(id);
    return task;
  }

  /**
   * The task once it is completed, dead or cancelled, or as it is when waitMs runs out. A wait cut
   * short by shutdown is ShuttingDown, not the unfinished task (which would read as "timed out").
   */
  async waitResult(id: string, waitMs: number, signal?: AbortSignal): Promise<Task> {
    const task = await this.get(id);
    if (FINISHED.has(task.status) || waitMs <= 0) return task;
    this.checkOpen();
    await this.resultWaiters.wait(id, Math.min(waitMs, MAX_CLAIM_WAIT_MS), signal);
    const now = await this.get(id);
    if (!FINISHED.has(now.status) && this.closed) throw shuttingDown();
    return now;
  }

  /**
   * Cancels a pending, scheduled, failed or running task. A running one's lease ends at once (a late
   * result gets LeaseLost) and its worker is told (by the store's finished event, on whichever
   * broker it is connected to): a TaskCancelled notice if its connection enabled them, else its
   * next heartbeat or renewal finds the lease lost.
   */
  async cancel(id: string): Promise<Task> {
    this.checkOpen();
    const { task, endedLease } = await this.store.cancel(id, this.clock.now());
    this.resultWaiters.wake(id);
    if (endedLease !== null) this.log.info("running task cancelled; its worker is told", { task: id, worker: endedLease.workerId });
    return task;
  }

  async retry(id: string): Promise<Task> {
    this.checkOpen();
    return this.store.retry(id, this.clock.now());
  }

  list(query: ListQuery): Promise<ListPage> {
    return this.store.list({ ...query, maxDataBytes: replyDataBudget(query.limit) });
  }

  /** Removes a task that is not running (a running one is InvalidState: cancel it first). */
  async delete(id: string): Promise<Task> {
    this.checkOpen();
    const task = await this.store.delete(id, this.clock.now());
    this.resultWaiters.wake(id);
    return task;
  }

  runs(id: string): Promise<TaskRun[]> {
    return this.store.runs(id);
  }

  readyAhead(id: string): Promise<ReadyAhead | null> {
    return this.store.readyAhead(id);
  }

  count(filter: TaskFilter): Promise<number> {
    return this.store.count(filter);
  }

  /** How many tasks each worker runs now (holds leases on), by worker id, in one read. */
  runningByWorker(): Promise<Map<string, number>> {
    return this.store.runningByWorker();
  }

  // ---- workers ---------------------------------------------------------------------------

  registerWorker(info: WorkerInfo, caller: WorkerCaller = IN_PROCESS): WorkerState {
    return this.desk.register(info, caller);
  }

  /** A worker leaving on purpose: its unfinished tasks go back at once, not counted as attempts. */
  deregisterWorker(workerId: string, caller: WorkerCaller = IN_PROCESS): Promise<number> {
    return this.desk.deregister(workerId, caller);
  }

  heartbeat(workerId: string, load: HeartbeatIn, inFlight: readonly LeaseRef[], caller: WorkerCaller = IN_PROCESS): Promise<HeartbeatReply> {
    return this.desk.heartbeat(workerId, load, inFlight, caller);
  }

  /** A worker's connection closed: unless it returns (or was taken over), its tasks go back after the grace. */
  workerDisconnected(workerId: string, connectionId: number): void {
    this.desk.disconnected(workerId, connectionId);
  }

  setWorkerCommand(workerId: string, command: "quiet" | "shutdown"): WorkerState {
    return this.desk.setCommand(workerId, command);
  }

  /**
   * An operator's command for a worker anywhere in the cluster: applied here if the worker is
   * connected to this broker (the worker with its command), else passed to the broker that last
   * saw it within worker.max_inactivity_secs (after it left here, if it did), which applies it on
   * receipt (that broker's node id). A worker that left here and was seen nowhere since gets it
   * here, as on one broker; NotFound when no broker knows it.
   */
  async commandWorker(workerId: string, command: "quiet" | "shutdown"): Promise<{ worker: WorkerState } | { forwardedTo: string }> {
    const presence = this.options.presence;
    const here = this.workers.get(workerId);
    if (presence == null || (here !== undefined && here.disconnectedAtMs === null && here.deadAtMs === null)) return { worker: this.desk.setCommand(workerId, command) };
    // Gone from here (connection closed, or dead, and not yet forgotten): it may have reconnected to another broker.
    const since = Math.max(this.clock.now() - this.options.maxInactivityMs, here?.disconnectedAtMs ?? here?.lastSeenAtMs ?? 0);
    const nodeId = await presence.forwardWorkerCommand(workerId, command, since);
    if (nodeId === null && here !== undefined) return { worker: this.desk.setCommand(workerId, command) };
    if (nodeId === null) throw new BrokerError(ErrorCode.NotFound, `no worker with id ${JSON.stringify(workerId)} on any broker of the cluster`, { field: "worker_id" });
    this.log.info("operator's worker command passed to the broker serving the worker", { worker: workerId, command, node_id: nodeId });
    return { forwardedTo: nodeId };
  }

  /** Another broker passed on an operator's command for a worker the cluster's records say is here. */
  onForwardedWorkerCommand(workerId: string, command: "quiet" | "shutdown"): void {
    if (this.workers.get(workerId) === undefined) {
      this.log.info("a forwarded worker command names a worker no longer here; dropped", { worker: workerId, command });
      return;
    }
    this.desk.setCommand(workerId, command);
    this.log.info("worker command from another broker applied", { worker: workerId, command });
  }

  async claim(command: ClaimCommand): Promise<Lease[]> {
    this.checkOpen();
    const { queues, max } = checkClaimCommand(command, this.options.maxBatchClaim);
    const worker = this.desk.claimer(command.workerId, command.caller ?? IN_PROCESS);
    // A worker told to quiet or shut down gets no new tasks: its claims wait out their time empty,
    // so a worker that keeps claiming does not spin.
    const open = worker.command === "none" ? this.unpaused(queues) : [];
    // Parked claims and hungry subscriptions come first: a claim that finds a task must not
    // overtake a consumer waiting for it. Serving them now (the store hands tasks out at once, even
    // before their submit commits) leaves this claim what they did not take; those waiting on
    // other queues do not hold it up.
    if (open.length > 0 && (this.waiters.size > 0 || this.subs.size > 0)) this.serveWaiters();
    const reservation = open.length > 0 ? this.readyBook.reserve(open, max) : null;
    if (reservation !== null) {
      const leases = await this.claimFromStore(reservation, command.workerId, max);
      if (leases.length > 0 || command.waitMs === 0) return this.claimed(leases);
    }
    if (command.waitMs === 0) return [];
    if (command.signal?.aborted) return [];
    const signal = command.signal;
    const leases = await new Promise<Lease[]>((resolve, reject) => {
      // The listener goes when the claim is answered: left on a connection's signal, every served
      // claim's closure (and through its promise, the leases it delivered) lived as long as the
      // connection.
      const settle = (leases: Lease[], error?: BrokerError): void => {
        signal?.removeEventListener("abort", cancel);
        if (error !== undefined) reject(error);
        else resolve(leases);
      };
      const cancel = this.waiters.park({ queues, workerId: command.workerId, max, resolve: settle }, command.waitMs);
      signal?.addEventListener("abort", cancel, { once: true });
      this.serveWaiters();
    });
    return leases;
  }

  // ---- subscriptions (tasks pushed while the consumer has credits) ------------------------

  /**
   * Opens a subscription (or changes an open one): tasks of its queues are leased to its worker
   * and handed to its sink while fewer than `credits` of them are out; each credit comes back
   * when that task's lease ends. Served in line with parked claims, longest waiting first.
   */
  subscribe(command: SubscribeCommand): void {
    this.checkOpen();
    this.desk.claimer(command.workerId, command.caller ?? IN_PROCESS);
    this.subs.open(command);
    this.serveWaiters();
  }

  /** Ends a subscription: nothing more is handed to its sink; its tasks already out stay leased. */
  unsubscribe(consumer: number, subscriptionId: number): void {
    this.subs.close(consumer, subscriptionId);
  }

  /** The consumer's connection closed: its subscriptions end (its tasks go back as its worker's do). */
  consumerGone(consumer: number): void {
    this.subs.closeConsumer(consumer);
  }

  /** The consumer can take bytes again (its outbound buffer drained): its subscriptions are served. */
  consumerWritable(consumer: number): void {
    if (this.subs.hungryOf(consumer)) this.serveWaiters();
  }

  async complete(lease: LeaseRef, result: TaskResultIn): Promise<void> {
    const mayWait = this.nobodyWaitsOn(lease);
    this.leasesEnded([lease]);
    const nowMs = this.clock.now();
    const [r] = await this.store.report([{ lease, completed: result }], nowMs, mayWait);
    if (!r!.ok) throw r!.error;
    if ("completed" in r!) this.completed(r.completed, nowMs);
  }

  async fail(lease: LeaseRef, failure: FailureIn): Promise<FailureOutcome> {
    const mayWait = this.nobodyWaitsOn(lease);
    this.leasesEnded([lease]);
    const [r] = await this.store.report([{ lease, failed: failure }], this.clock.now(), mayWait);
    if (!r!.ok) throw r!.error;
    if (!("failed" in r!)) throw new BrokerError(ErrorCode.Internal, "a failure report came back as a completion");
    this.failed(r.failed);
    return r.failed;
  }

  /**
   * Several results at once (TaskResultBatch): one store operation, so one group and one promise
   * for the batch. Each item settles alone (a stale lease fails only its own item); a storage
   * failure fails every item. In input order.
   */
  async reportAll(reports: readonly ResultReport[]): Promise<ReportSettled[]> {
    const mayWait = reports.every((r) => this.nobodyWaitsOn(r.lease));
    if (this.subs.leasesEnded(reports, reportRef)) this.serveWaiters();
    const nowMs = this.clock.now();
    let results: ReportItemResult[];
    try {
      results = await this.store.report(reports, nowMs, mayWait);
    } catch (err) {
      const error = toBrokerError(err);
      // Answered per item, so the connection never sees it: a bug must be logged here.
      if (error.code === ErrorCode.Internal) this.log.error("task results failed", { err, items: reports.length });
      return reports.map(() => ({ ok: false, error }));
    }
    return results.map((r): ReportSettled => {
      if (!r.ok) return r;
      if ("completed" in r) {
        this.completed(r.completed, nowMs);
        return { ok: true, failure: null };
      }
      this.failed(r.failed);
      return { ok: true, failure: r.failed };
    });
  }

  /**
   * The acknowledgement of this lease's result may come a little later (Store.report's mayWait):
   * its worker gets its next task by push, not by a claim after the answer, and nobody waits on
   * the task's result. Asked before the lease ends.
   */
  private nobodyWaitsOn(lease: LeaseRef): boolean {
    return this.subs.pushed(lease) && !this.resultWaiters.has(lease.id);
  }

  /** A run's completion, for metrics; result waits are woken by the store's finished event. */
  private completed(info: CompletedInfo, nowMs: number): void {
    this.events.completed?.(info, nowMs);
    this.activity.completedTask(info.queue);
  }

  private failed(outcome: FailureOutcome): void {
    if (outcome.status === "failed") this.totals.failed++;
    this.events.failed?.(outcome);
    this.activity.failedRun(outcome.queue);
  }

  /** A worker handing claimed tasks back unstarted (Nack, graceful shutdown): ready again at once. */
  async release(leases: readonly LeaseRef[]): Promise<void> {
    this.leasesEnded(leases);
    await this.store.release(leases, this.clock.now());
    this.events.reclaimed?.(leases.length, "released");
  }

  renew(leases: readonly LeaseRef[]): Promise<(number | null)[]> {
    return this.store.renew(leases, this.clock.now());
  }

  // ---- queues and stats ------------------------------------------------------------------

  /** Claims stop taking the queue's tasks; durable (the store keeps it), so it outlives a restart. */
  async pause(queue: string): Promise<void> {
    const name = checkQueueName("queue", queue);
    await this.store.setPaused(name, true, this.clock.now());
    this.onPaused(name, true);
  }

  async resume(queue: string): Promise<void> {
    const name = checkQueueName("queue", queue);
    await this.store.setPaused(name, false, this.clock.now());
    this.onPaused(name, false);
  }

  /** A pause or resume committed (here, or by another broker on the same store). */
  onPaused(queue: string, paused: boolean): void {
    if (paused) this.paused.add(queue);
    else if (this.paused.delete(queue)) this.serveWaiters();
  }

  /** One of several brokers on one database (PostgreSQL): its worker registry holds only the workers connected to it. */
  get clustered(): boolean {
    return this.options.presence != null;
  }

  isPaused(queue: string): boolean {
    return this.paused.has(queue);
  }

  async stats(): Promise<BrokerStats> {
    return {
      uptimeMs: this.clock.now() - this.startedAtMs,
      tasks: await this.store.counts(),
      workers: this.workers.size,
      parkedClaims: this.waiters.size,
      resultWaiters: this.resultWaiters.size,
      pausedQueues: [...this.paused],
      totals: { ...this.totals },
      background: structuredClone(this.background),
      ...this.options.extraStats?.(),
    };
  }

  /** Records what a background job just did, for stats (the job logs it at debug level itself). */
  noteBackground(job: string, figures: Record<string, number | null>): void {
    const entry = (this.background[job] ??= {});
    for (const [key, value] of Object.entries(figures)) {
      entry[key] = key.startsWith("last") || value === null ? value : (entry[key] ?? 0)! + value;
    }
  }

  /** Resolves when the store accepts writes (readiness probe). */
  ping(): Promise<void> {
    return this.store.ping();
  }

  // ---- wiring ----------------------------------------------------------------------------

  /** Before serving: what the store holds ready now (later, its ready events keep the book). */
  async start(): Promise<void> {
    this.seedReady(await this.store.counts());
    for (const queue of await this.store.pausedQueues()) this.paused.add(queue);
    this.activity.start();
  }

  /** The store's ready event: `count` tasks became claimable in `queue`. */
  onReady(queue: string, count: number): void {
    this.readyBook.announce(queue, count);
    if (this.waiters.size > 0 || this.subs.size > 0) this.serveWaiters();
  }

  /**
   * The store's finished event: result waits on those tasks end, and the worker of a cancelled run
   * is told if it is connected here. `elsewhere`: another broker's commit (not in this one's totals).
   */
  onFinished(ends: readonly TaskEnd[], elsewhere = false): void {
    for (const end of ends) {
      if (!elsewhere && end.status === "completed") this.totals.completed++;
      else if (!elsewhere && end.status === "dead") this.totals.dead++;
      if (this.resultWaiters.size > 0) this.resultWaiters.wake(end.id);
      if (end.endedLease !== undefined) {
        this.desk.tellCancelled(end.endedLease.workerId, end.id, end.endedLease.token);
        // A running task cancelled, here or through another broker: its credit comes back.
        this.leasesEnded([{ id: end.id, token: end.endedLease.token }]);
      }
    }
  }

  /** Called after each scheduler tick: expired leases are warned of (what they made ready or dead came as events). */
  afterTick(outcome: Pick<TickOutcome, "expiredLeases">): void {
    if (outcome.expiredLeases.length === 0) return;
    this.desk.leasesExpired(outcome.expiredLeases);
    this.activity.failedRun(null, outcome.expiredLeases.length);
    this.leasesEnded(outcome.expiredLeases);
  }

  /**
   * Stops taking new work (submit, claim, cancel, retry, result waits: ShuttingDown; parked claims
   * and waits too); reports, renewals, hand-backs and heartbeats of work already out still go on.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.desk.stop();
    this.activity.stop();
    this.subs.closeAll();
    this.waiters.failAll(shuttingDown());
    this.resultWaiters.wakeAll();
  }

  /** Declares silent or long-disconnected workers dead and takes their tasks back now. */
  reapWorkers(): Promise<void> {
    return this.desk.reap();
  }

  private claimed(leases: Lease[]): Lease[] {
    if (leases.length > 0) {
      this.totals.claimed += leases.length;
      this.events.claimed?.(leases.length);
    }
    return leases;
  }

  private seedReady(counts: TaskCounts): void {
    this.readyBook.seed(counts.queues.map((q) => [q.queue, q.pending.high + q.pending.normal + q.pending.low] as const));
  }

  /** One claim on the store for what `reservation` took from the ready book; the book learns what it got. */
  private async claimFromStore(reservation: Reservation, workerId: string, max: number): Promise<Lease[]> {
    let leases: Lease[];
    try {
      leases = await this.store.claim({ queues: reservation.queues, workerId, max, maxDataBytes: replyDataBudget(max), nowMs: this.clock.now() });
    } catch (err) {
      this.readyBook.giveBack(reservation);
      throw err;
    }
    this.readyBook.settle(reservation, leases.map((l) => l.task.queue));
    return leases;
  }

  private unpaused(queues: readonly string[]): readonly string[] {
    if (this.paused.size === 0) return queues;
    return queues.filter((q) => !this.paused.has(q));
  }

  /**
   * A result, hand-back, cancel, expiry or reclaim ended these leases: a subscription that
   * delivered one gets its credit back at once (before the store commits the end, so the next
   * task never waits for an fsync) and is served if it can use it.
   */
  private leasesEnded(refs: readonly LeaseRef[]): void {
    if (this.subs.leasesEnded(refs, asRef)) this.serveWaiters();
  }

  /** Parked claims and subscriptions that may be served now (bound once: serveWaiters runs per event). */
  private readonly claimServable = (w: ClaimWaiter): boolean => this.mayServe(w.workerId, w.queues);
  private readonly subscriptionServable = (s: Subscription): boolean => s.sink.writable() && this.mayServe(s.workerId, s.queues);

  /**
   * Hands ready tasks to consumers waiting for them — parked claims and subscriptions with
   * credits, longest-waiting first — while the ready book believes there are tasks for them: each
   * takes its share of the book before it asks the store, so no more claims go out than there are
   * tasks. Not after close(): parked claims were answered ShuttingDown, subscriptions ended.
   */
  private serveWaiters(): void {
    if (this.serving || this.closed) return;
    this.serving = true;
    try {
      for (;;) {
        const waiter = this.waiters.size === 0 ? null : this.waiters.first(this.claimServable);
        const sub = this.subs.size === 0 ? null : this.subs.first(this.subscriptionServable);
        if (sub !== null && (waiter === null || sub.ticket < waiter.ticket)) this.serveSubscription(sub);
        else if (waiter !== null) {
          this.waiters.take(waiter);
          this.serveOne(waiter, this.readyBook.reserve(this.unpaused(waiter.queues), waiter.max)!);
        } else return;
      }
    } finally {
      this.serving = false;
    }
  }

  /** The worker may be given tasks (not quiet, shut down or dead) and the book believes some are ready for it. */
  private mayServe(workerId: string, queues: readonly string[]): boolean {
    return this.desk.mayTakeTasks(workerId) && this.readyBook.has(this.unpaused(queues));
  }

  /** One store claim for a subscription, within its free credits; what it gets goes to its sink. */
  private serveSubscription(sub: Subscription): void {
    const max = Math.min(sub.free, MAX_DELIVERY_TASKS);
    const reservation = this.readyBook.reserve(this.unpaused(sub.queues), max)!;
    this.subs.claimStarted(sub);
    this.claimFromStore(reservation, sub.workerId, max).then(
      (leases) => this.deliver(sub, leases),
      (err: unknown) => {
        this.log.warn("claim for a subscription failed", { err, worker: sub.workerId });
        this.subs.claimDone(sub, []);
      },
    );
  }

  /**
   * Hands a subscription what its claim got. Tasks its consumer can no longer take (it ended
   * meanwhile, or its connection is closing) go back to the queue at once, not counted as an attempt.
   */
  private deliver(sub: Subscription, leases: Lease[]): void {
    if (leases.length === 0) {
      this.subs.claimDone(sub, leases);
      return;
    }
    let taken = false;
    if (!sub.closed) {
      try {
        taken = sub.sink.deliver(sub.id, leases);
      } catch (err) {
        this.log.error("tasks could not be delivered to a subscription; handed back", { err, worker: sub.workerId, tasks: leases.length });
      }
    }
    if (!taken) {
      this.subs.claimDone(sub, []);
      this.release(leases.map((l) => ({ id: l.task.id, token: l.token }))).catch((err: unknown) => {
        this.log.warn("undelivered tasks could not be handed back; their leases will expire", { err, tasks: leases.length });
      });
      return;
    }
    this.subs.claimDone(sub, this.claimed(leases));
    // What the reply budget left behind may still be ready for the credits left.
    if (sub.free > 0) this.serveWaiters();
  }

  private serveOne(waiter: ClaimWaiter, reservation: Reservation): void {
    this.claimFromStore(reservation, waiter.workerId, waiter.max).then(
      (leases) => this.waiters.served(waiter, this.claimed(leases)),
      (err: unknown) => {
        this.log.warn("blocking claim failed", { err });
        this.waiters.served(waiter, []);
      },
    );
  }

  private checkOpen(): void {
    if (this.closed) throw shuttingDown();
  }
}

/**
 * Bytes of task data one reply may carry for `tasks` tasks: the frame's room for task data less a
 * bound on each task's fixed fields. What the broker tells the store, which knows no frames.
 */
function replyDataBudget(tasks: number): number {
  return Math.max(0, MAX_REPLY_TASK_BYTES - tasks * REPLY_BYTES_PER_TASK);
}

function shuttingDown(): BrokerError {
  return new BrokerError(ErrorCode.ShuttingDown, "the broker is shutting down", { retryAfterMs: 1000 });
}

function notFound(id: string): BrokerError {
  return new BrokerError(ErrorCode.NotFound, `no task with id ${JSON.stringify(id)}`, { field: "id" });
}
