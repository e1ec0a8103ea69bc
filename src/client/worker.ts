// Worker: the runtime that takes tasks (a credit-based subscription: the broker pushes up to its
// prefetch window of tasks; blocking claims with a broker that predates it), runs the registered handler
// on at most `concurrency` at once, keeps leases alive (heartbeats + renewals), reports outcomes
// in the background, and shuts down gracefully. One task's run lives in task-run.ts, the tasks
// waiting for a slot in waiting-tasks.ts, sockets in the channel.

import { EventEmitter } from "node:events";
import * as os from "node:os";
import { ErrorCode } from "../protocol/errors.ts";
import { MAX_SUBSCRIBE_CREDITS, NOTICE, QUEUE_NAME_PATTERN } from "../protocol/limits.ts";
import type { ClaimedTask, DeliveryPush, LeaseRef, TaskCancelledNotice, TaskResultItem } from "../protocol/messages.ts";
import { withTypesLabel } from "../protocol/worker-types-label.ts";
import { ClaimLoop } from "./claim-loop.ts";
import { Client } from "./client.ts";
import type { ClientOptions } from "./client-options.ts";
import { ProcessLoad } from "./process-load.ts";
import { ResultBatcher, type ResultSettled } from "./result-batcher.ts";
import { TaskRun, type Handler, type TaskRunHost } from "./task-run.ts";
import { ClientClosedError, ConnectionError, ForbiddenError, InvalidFieldError, LeaseLostError, TqError, UnknownMessageTypeError } from "./tq-error.ts";
import { PrefetchWindow } from "./prefetch-window.ts";
import { stopOnSignals } from "./stop-signals.ts";
import { WaitingTasks } from "./waiting-tasks.ts";

export type { Handler, TaskContext, WorkerTask } from "./task-run.ts";

export interface WorkerOptions extends ClientOptions {
  /** Queues to take tasks from. Default ["default"]. */
  queues?: string[];
  /** Most tasks running at once. Default 4. */
  concurrency?: number;
  /**
   * Most tasks held at once, running and waiting for a slot: the subscription's credits. Default
   * adaptive: 4 x concurrency at start, then as many as the handlers' measured speed needs for a
   * freed slot never to wait for a delivery (at least `concurrency`, at most 1000 or 4 x
   * concurrency). A number fixes it (1-10000).
   */
  prefetch?: number;
  /** Heartbeat period, ms. Default what the broker announces (worker.heartbeat_interval_secs). */
  heartbeatIntervalMs?: number;
  /** On stop, how long running tasks may take to finish before they are handed back, ms. Default 60000. */
  gracefulShutdownTimeoutMs?: number;
  /** Stop gracefully on SIGTERM/SIGINT. Default true. */
  handleSignals?: boolean;
  /** Longest one handler may run before its signal fires and the run is reported failed, ms. Default 0 = no limit. */
  taskTimeoutMs?: number;
  /** How long one blocking claim waits at the broker before it is re-issued (brokers without subscriptions), ms. Default 30000. */
  claimWaitMs?: number;
  /** Default `${hostname}-${pid}-${random}`. */
  workerId?: string;
  /** Shown in `tq-broker workers`. */
  labels?: Record<string, string>;
}

type WorkerState = "new" | "running" | "quiet" | "stopping" | "stopped";

const DEFAULT_CONCURRENCY = 4;
const DEFAULT_GRACEFUL_SHUTDOWN_MS = 60_000;
const DEFAULT_CLAIM_WAIT_MS = 30_000;
/** The one subscription a worker holds per connection. */
const SUBSCRIPTION_ID = 1;
/**
 * Runs started whose outcome is not acknowledged yet (running, or reported and waiting for the
 * broker's commit), and bytes of their results, past which no new task starts: a slot frees when
 * its handler returns, so without a bound a broker slow to commit would let outcomes pile up
 * without end. Large enough not to be what limits a fast worker: at 50,000 tasks/s, a commit
 * that takes 200 ms (a disk shared with other work) leaves 10,000 outcomes waiting.
 */
const MAX_REPORTS_IN_FLIGHT = 10_000;
const MAX_REPORT_BYTES_IN_FLIGHT = 64 * 1024 * 1024;

/**
 * Events: "completed" (task, result), "failed" (task, error, outcome), "cancelled" (task: cancelled
 * while it ran; its signal fired), "error" (err), "stopped" (). Without an "error" listener,
 * errors are written to stderr.
 */
export class Worker extends EventEmitter implements TaskRunHost {
  readonly client: Client;
  readonly workerId: string;
  readonly queues: string[];
  readonly concurrency: number;
  /** The prefetch option: a fixed number of credits, or null when the window adapts. */
  readonly prefetch: number | null;
  private readonly window: PrefetchWindow;
  private readonly options: WorkerOptions;
  private readonly handlers = new Map<string, Handler>();
  /** Runs whose handler has not returned: each holds a slot. */
  private readonly running = new Map<string, TaskRun>();
  /** Runs whose handler returned and whose outcome is being reported. */
  private readonly reporting = new Set<TaskRun>();
  private readonly waiting: WaitingTasks;
  private readonly load = new ProcessLoad();
  /** Results of runs that finish in the same turn go out as one TaskResultBatch. */
  private readonly results: ResultBatcher;
  private state: WorkerState = "new";
  /** Registered on some connection before: a refused re-registration after a drop is retried. */
  private registered = false;
  /** The broker of the current connection took the subscription; false: it predates them, claims are used. */
  private subscribed = false;
  private heartbeatIntervalMs = 15_000;
  private maxBatchClaim = 10;
  private heartbeatTimer: ReturnType<typeof setTimeout> | null = null;
  /** With a broker that predates subscriptions: blocking claims instead. */
  private readonly claims: ClaimLoop;
  private stopping: Promise<void> | null = null;
  /** Removes the SIGTERM/SIGINT handlers (handleSignals). */
  private removeSignalHandlers: () => void = () => {};
  /** While stop() waits for running tasks: ends the wait early. */
  private endDrain: (() => void) | null = null;

  constructor(options: WorkerOptions = {}) {
    super();
    this.options = options;
    this.client = new Client({ clientName: "tq-worker", ...options });
    this.results = new ResultBatcher(this.client);
    this.workerId = options.workerId ?? `${os.hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    this.queues = options.queues && options.queues.length > 0 ? [...options.queues] : ["default"];
    for (const queue of this.queues) {
      if (!QUEUE_NAME_PATTERN.test(queue)) {
        throw new InvalidFieldError(ErrorCode.InvalidField, `queues: ${JSON.stringify(queue)} is not a queue name (letters, digits and _ . : - only)`, { field: "queues" });
      }
    }
    this.concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1 || this.concurrency > 0xffff) {
      throw new InvalidFieldError(ErrorCode.InvalidField, `concurrency: expected a whole number >= 1, got ${this.concurrency}`, { field: "concurrency" });
    }
    this.prefetch = options.prefetch ?? null;
    if (this.prefetch !== null && (!Number.isInteger(this.prefetch) || this.prefetch < 1 || this.prefetch > MAX_SUBSCRIBE_CREDITS)) {
      throw new InvalidFieldError(ErrorCode.InvalidField, `prefetch: expected a whole number 1-${MAX_SUBSCRIBE_CREDITS}, got ${this.prefetch}`, { field: "prefetch" });
    }
    this.window = new PrefetchWindow(this.concurrency, this.prefetch);
    this.waiting = new WaitingTasks({
      defaultLeaseMs: () => this.defaultLeaseMs,
      renew: async (leases) => (await this.client.call({ kind: "RenewLease", leases }, "Renewed", { idempotent: true })).expiresAtMs,
      lost: (task) => {
        this.reportError(new LeaseLostError(ErrorCode.LeaseLost, `task ${task.id} (${task.type}) lost its lease while it waited for a slot; it was not run here`));
      },
    });
    this.claims = new ClaimLoop(this.client, this.queues, options.claimWaitMs ?? DEFAULT_CLAIM_WAIT_MS, {
      claiming: () => this.state === "running" && !this.subscribed,
      stopping: () => this.stopping !== null,
      // Waiting tasks count as taken: a claim asks only for what would start at once.
      freeSlots: () => (this.reportsFull() ? 0 : this.concurrency - this.running.size - this.waiting.size),
      maxBatchClaim: () => this.maxBatchClaim,
      claimed: (tasks) => {
        for (const task of tasks) this.waiting.add(task);
        this.startWaiting();
      },
      handBack: (leases) => this.nack(leases),
      reportError: (err) => this.reportError(err),
    });
    this.client.channel.onSession((hello) => this.startSession(hello.maxBatchClaim));
    this.client.channel.on("notice", (notice: TaskCancelledNotice) => {
      const run = this.running.get(notice.id);
      if (run !== undefined && run.lease.token === notice.token) run.cancelled();
      // A task cancelled before it started is dropped: its lease ended with the cancel.
      else this.waiting.remove(notice);
    });
    this.client.channel.on("delivery", (delivery: DeliveryPush) => this.delivered(delivery));
  }

  /** Handler for a task type; its return value is the task's result (bytes or JSON). */
  register<P = any, R = unknown>(type: string, handler: Handler<P, R>): this {
    this.handlers.set(type, handler as Handler);
    return this;
  }

  get runningCount(): number {
    return this.running.size;
  }

  get isRunning(): boolean {
    return this.state === "running" || this.state === "quiet";
  }

  /** The credits the worker asks for now: its prefetch, or where its adaptive window stands. */
  get credits(): number {
    return this.window.credits;
  }

  /** Connects, registers, subscribes (or starts claiming). Resolves once registered; rejects if the broker refuses. */
  async start(): Promise<void> {
    if (this.state !== "new") throw new TqError(0, `start(): the worker is already ${this.state}`);
    this.state = "running";
    this.client.channel.keepConnected = true;
    try {
      await this.client.connect();
    } catch (err) {
      this.state = "stopped";
      await this.client.close();
      throw err;
    }
    // Installed until the drain is over, so a second signal during it still forces the exit.
    if (this.options.handleSignals ?? true) this.removeSignalHandlers = stopOnSignals((o) => this.stop(o));
    this.scheduleHeartbeat();
    this.claims.ensure();
  }

  /**
   * Graceful stop: nothing new is taken (the subscription ends; tasks waiting for a slot are handed
   * back); running tasks get up to gracefulShutdownTimeoutMs to finish, then their signal fires and
   * they are handed back (Nack) to run elsewhere at once; then the worker deregisters and
   * disconnects. Safe to call more than once.
   */
  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    // Called again with timeoutMs 0 while draining (a second Ctrl-C): stop waiting and hand back now.
    if (this.stopping !== null && options.timeoutMs === 0) this.endDrain?.();
    this.stopping ??= this.shutdown(options.timeoutMs ?? this.options.gracefulShutdownTimeoutMs ?? DEFAULT_GRACEFUL_SHUTDOWN_MS);
    return this.stopping;
  }

  // ---- TaskRunHost: what a TaskRun may ask of its worker --------------------------------

  handlerFor(type: string): Handler | undefined {
    return this.handlers.get(type);
  }

  handlerTypes(): string[] {
    return [...this.handlers.keys()];
  }

  get taskTimeoutMs(): number {
    return this.options.taskTimeoutMs ?? 0;
  }

  get defaultLeaseMs(): number {
    return this.client.channel.hello?.defaultLeaseMs ?? 30_000;
  }

  /**
   * The clock handlers are timed by (performance.now()), which sizes the adaptive prefetch window.
   * A subclass may override it (tests: a clock that does not depend on the machine's load).
   */
  now(): number {
    return performance.now();
  }

  handlerReturned(run: TaskRun): void {
    if (this.running.get(run.task.id) === run) this.running.delete(run.task.id);
    this.reporting.add(run);
    const nowMs = this.now();
    if (this.window.observe(nowMs - run.startedMs, nowMs) !== null) this.resubscribe();
    this.slotFreed();
  }

  runFinished(run: TaskRun): void {
    if (this.running.get(run.task.id) === run) this.running.delete(run.task.id);
    this.reporting.delete(run);
    this.slotFreed();
  }

  report(kind: "completed" | "failed" | "cancelled", ...args: unknown[]): void {
    this.emit(kind, ...args);
  }

  sendResult(item: TaskResultItem): Promise<ResultSettled> {
    return this.results.report(item);
  }

  reportError(err: unknown): void {
    if (this.listenerCount("error") > 0) this.emit("error", err);
    else console.error(`tq-worker ${this.workerId}:`, err);
  }

  // ---- internals ---------------------------------------------------------------------------

  /** Each new connection is a new broker session: register (claims and deliveries are for the worker registered on it), notices, subscription. */
  private async startSession(maxBatchClaim: number): Promise<void> {
    const res = await this.client
      .call(
        {
          kind: "RegisterWorker",
          workerId: this.workerId,
          hostname: os.hostname(),
          pid: process.pid,
          queues: this.queues,
          concurrency: this.concurrency,
          version: "tq-client",
          labels: withTypesLabel(this.options.labels ?? {}, this.handlerTypes()),
        },
        "Registered",
        { setup: true },
      )
      .catch((err: unknown) => {
        // Back after a drop, the broker may not have seen the old connection close yet: it keeps
        // the worker id for that connection until it does. Retried like a failed connect, with
        // what waits kept; on the first start the refusal stands (another process has the id).
        if (this.registered && err instanceof ForbiddenError && err.field === "worker_id") {
          throw new ConnectionError(`${err.message}; retrying until the broker has seen the previous connection close`, false, err);
        }
        throw err;
      });
    this.registered = true;
    this.heartbeatIntervalMs = this.options.heartbeatIntervalMs ?? res.heartbeatIntervalMs;
    this.maxBatchClaim = Math.max(1, maxBatchClaim);
    // Cancellations pushed at once; a broker that predates notices says UnknownMessageType, and
    // the worker learns of a cancel from its next heartbeat or renewal instead (lease lost).
    await this.client.call({ kind: "EnableNotices", notices: NOTICE.taskCancelled }, "Ack", { setup: true }).catch((err: unknown) => {
      if (!(err instanceof UnknownMessageTypeError)) throw err;
    });
    if (this.state !== "running") {
      this.subscribed = false;
      return;
    }
    // Tasks still held from a previous connection are not counted by the new subscription: after a
    // reconnect the worker may hold up to twice its prefetch for a moment, never more.
    this.subscribed = await this.client
      .call({ kind: "Subscribe", subscriptionId: SUBSCRIPTION_ID, queues: this.queues, credits: this.window.credits }, "Ack", { setup: true })
      .then(
        () => true,
        (err: unknown) => {
          // A broker that predates subscriptions: blocking claims instead.
          if (err instanceof UnknownMessageTypeError) return false;
          throw err;
        },
      );
    this.claims.ensure();
  }

  /** The window moved: the same subscription with the new credits (a lost connection subscribes afresh anyway). */
  private resubscribe(): void {
    if (!this.subscribed || this.state !== "running" || !this.client.channel.isReady) return;
    this.client
      .call({ kind: "Subscribe", subscriptionId: SUBSCRIPTION_ID, queues: this.queues, credits: this.window.credits }, "Ack")
      .catch((err: unknown) => {
        if (!(err instanceof ConnectionError) && !(err instanceof ClientClosedError)) this.reportError(err);
      });
  }

  /** Tasks the broker pushed: they wait for a slot (or go back, when the worker is stopping). */
  private delivered(delivery: DeliveryPush): void {
    if (delivery.subscriptionId !== SUBSCRIPTION_ID) return;
    if (this.state === "stopping" || this.state === "stopped") {
      void this.nack(delivery.tasks.map((t) => ({ id: t.id, token: t.token })));
      return;
    }
    for (const task of delivery.tasks) this.waiting.add(task);
    this.startWaiting();
  }

  /** Starts waiting tasks while slots are free and the reports in flight are within their bound. */
  private startWaiting(): void {
    if (this.state !== "running" && this.state !== "quiet") return;
    while (this.running.size < this.concurrency && !this.reportsFull()) {
      const next = this.waiting.take();
      if (next === null) return;
      this.startRun(next.claimed, next.leaseMs);
    }
  }

  /** As many runs or result bytes as may be out unacknowledged: no new task starts until some are. */
  private reportsFull(): boolean {
    return this.running.size + this.reporting.size >= MAX_REPORTS_IN_FLIGHT || this.results.bytesInFlight >= MAX_REPORT_BYTES_IN_FLIGHT;
  }

  private slotFreed(): void {
    this.startWaiting();
    this.claims.wake();
  }

  private startRun(task: ClaimedTask, leaseMs: number): void {
    const run = new TaskRun(this, this.client, task, leaseMs);
    this.running.set(task.id, run);
    run.start();
  }

  private scheduleHeartbeat(): void {
    if (this.state === "stopped") return;
    this.heartbeatTimer = setTimeout(() => {
      this.heartbeatTimer = null;
      this.heartbeat().finally(() => this.scheduleHeartbeat());
    }, this.heartbeatIntervalMs);
  }

  /** Load figures and every lease held (running and waiting tasks), which the heartbeat renews; the reply may carry a command. */
  private async heartbeat(): Promise<void> {
    if (!this.client.channel.isReady) return;
    const runs = [...this.running.values()].filter((r) => r.holdsLease);
    const waiting = this.waiting.leases();
    const { cpuPercent, memoryMb } = this.load.sample();
    try {
      const res = await this.client.call(
        { kind: "Heartbeat", workerId: this.workerId, cpuPercent, memoryMb, inFlight: [...runs.map((r) => r.lease), ...waiting] },
        "HeartbeatOk",
        { idempotent: true, timeoutMs: this.heartbeatIntervalMs },
      );
      runs.forEach((run, i) => {
        const expiresAtMs = res.renewed[i];
        if (expiresAtMs === null) run.leaseLost("the broker no longer holds this lease (expired, reclaimed or cancelled)");
      });
      this.waiting.renewed(waiting, res.renewed.slice(runs.length));
      if (res.command === "quiet" && this.state === "running") {
        // The broker delivers nothing more; what this worker holds it still runs.
        this.state = "quiet";
        this.claims.wake();
      } else if (res.command === "shutdown") {
        void this.stop();
      }
    } catch (err) {
      if (!(err instanceof ConnectionError) && !(err instanceof ClientClosedError)) this.reportError(err);
    }
  }

  private async nack(leases: LeaseRef[]): Promise<void> {
    if (leases.length === 0) return;
    try {
      await this.client.call({ kind: "Nack", leases }, "Ack", { idempotent: true });
    } catch (err) {
      if (!(err instanceof ClientClosedError)) this.reportError(err);
    }
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    if (this.state === "new") {
      this.state = "stopped";
      await this.client.close();
      return;
    }
    this.state = "stopping";
    this.claims.wake();
    if (this.subscribed && this.client.channel.isReady) {
      // After its Ack nothing more is delivered; what arrives before it is handed back. (Without a
      // connection the subscription is gone already, and a reconnect now does not subscribe.)
      await this.client.call({ kind: "Unsubscribe", subscriptionId: SUBSCRIPTION_ID }, "Ack").catch(() => {});
      this.subscribed = false;
    }
    await this.nack(this.waiting.takeAll().map((t) => ({ id: t.id, token: t.token })));
    // Running handlers and the outcomes still being reported, up to the timeout.
    const runs = [...this.running.values(), ...this.reporting];
    if (runs.length > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        this.endDrain = resolve;
      });
      await Promise.race([Promise.allSettled(runs.map((r) => r.done)), timedOut]);
      clearTimeout(timer);
      this.endDrain = null;
    }
    const unfinished = [...this.running.values()].filter((r) => r.holdsLease);
    for (const run of unfinished) run.handBack(`the worker is shutting down and the task did not finish within ${timeoutMs} ms`);
    await this.nack(unfinished.map((r) => r.lease));
    try {
      await this.client.call({ kind: "DeregisterWorker", workerId: this.workerId }, "Ack", { idempotent: true });
    } catch (err) {
      if (!(err instanceof ClientClosedError) && !(err instanceof ConnectionError)) this.reportError(err);
    }
    this.state = "stopped";
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.waiting.stop();
    this.removeSignalHandlers();
    await this.client.close();
    await this.claims.finished();
    this.emit("stopped");
  }
}
