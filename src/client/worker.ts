// Worker: the runtime that claims tasks (blocking claims, never more than `concurrency` running),
// runs the registered handler, keeps leases alive (heartbeats + per-task renewal), reports the
// outcome, and shuts down gracefully. One task's run lives in task-run.ts; sockets in the channel.

import { EventEmitter } from "node:events";
import * as os from "node:os";
import { ErrorCode } from "../protocol/errors.ts";
import { MAX_BATCH_SUBMIT, MAX_CLAIM_WAIT_MS, NOTICE, QUEUE_NAME_PATTERN } from "../protocol/limits.ts";
import type { ClaimedTask, LeaseRef, TaskCancelledNotice, TaskResultItem } from "../protocol/messages.ts";
import { Client } from "./client.ts";
import type { ClientOptions } from "./client-options.ts";
import { ProcessLoad } from "./process-load.ts";
import { ResultBatcher, type ResultSettled } from "./result-batcher.ts";
import { TaskRun, type Handler, type TaskRunHost, type WorkerTask } from "./task-run.ts";
import { ClientClosedError, ConnectionError, ForbiddenError, InvalidFieldError, TqError, UnknownMessageTypeError } from "./tq-error.ts";

export type { Handler, TaskContext, WorkerTask } from "./task-run.ts";

export interface WorkerOptions extends ClientOptions {
  /** Queues to take tasks from. Default ["default"]. */
  queues?: string[];
  /** Most tasks running at once. Default 4. */
  concurrency?: number;
  /** Heartbeat period, ms. Default what the broker announces (worker.heartbeat_interval_secs). */
  heartbeatIntervalMs?: number;
  /** On stop, how long running tasks may take to finish before they are handed back, ms. Default 60000. */
  gracefulShutdownTimeoutMs?: number;
  /** Stop gracefully on SIGTERM/SIGINT. Default true. */
  handleSignals?: boolean;
  /** Longest one handler may run before its signal fires and the run is reported failed, ms. Default 0 = no limit. */
  taskTimeoutMs?: number;
  /** How long one blocking claim waits at the broker before it is re-issued, ms. Default 30000. */
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
/** Pause after a failed claim, so a broken broker is not hammered in a tight loop. */
const CLAIM_ERROR_PAUSE_MS = 1000;

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
  private readonly options: WorkerOptions;
  private readonly handlers = new Map<string, Handler>();
  private readonly running = new Map<string, TaskRun>();
  private readonly load = new ProcessLoad();
  /** Results of runs that finish in the same turn go out as one TaskResultBatch. */
  private readonly results: ResultBatcher;
  private state: WorkerState = "new";
  /** Registered on some connection before: a refused re-registration after a drop is retried. */
  private registered = false;
  private heartbeatIntervalMs = 15_000;
  private maxBatchClaim = 10;
  private heartbeatTimer: ReturnType<typeof setTimeout> | null = null;
  private slotWaiter: (() => void) | null = null;
  private stopping: Promise<void> | null = null;
  private claimLoopDone: Promise<void> = Promise.resolve();
  private signalHandler: ((signal: NodeJS.Signals) => void) | null = null;
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
    this.client.channel.onSession(async (hello) => {
      // Each new connection is a new broker session: claims are made for the worker registered on it.
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
            labels: Object.entries(this.options.labels ?? {}).map(([key, value]) => ({ key, value })),
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
      this.maxBatchClaim = Math.max(1, hello.maxBatchClaim);
      // Cancellations pushed at once; a broker that predates notices says UnknownMessageType, and
      // the worker learns of a cancel from its next heartbeat or renewal instead (lease lost).
      await this.client.call({ kind: "EnableNotices", notices: NOTICE.taskCancelled }, "Ack", { setup: true }).catch((err: unknown) => {
        if (!(err instanceof UnknownMessageTypeError)) throw err;
      });
    });
    this.client.channel.on("notice", (notice: TaskCancelledNotice) => {
      const run = this.running.get(notice.id);
      if (run !== undefined && run.lease.token === notice.token) run.cancelled();
    });
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

  /** Connects, registers, and starts claiming. Resolves once registered; rejects if the broker refuses. */
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
    if (this.options.handleSignals ?? true) this.installSignalHandlers();
    this.scheduleHeartbeat();
    this.claimLoopDone = this.claimLoop();
  }

  /**
   * Graceful stop: no new claims; running tasks get up to gracefulShutdownTimeoutMs to finish,
   * then their signal fires and they are handed back (Nack) to run elsewhere at once; then the
   * worker deregisters and disconnects. Safe to call more than once.
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

  runFinished(run: TaskRun): void {
    this.running.delete(run.task.id);
    const wake = this.slotWaiter;
    this.slotWaiter = null;
    wake?.();
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

  private async claimLoop(): Promise<void> {
    const waitMs = Math.min(this.options.claimWaitMs ?? DEFAULT_CLAIM_WAIT_MS, MAX_CLAIM_WAIT_MS);
    while (this.state === "running") {
      const free = this.concurrency - this.running.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.slotWaiter = resolve));
        continue;
      }
      let tasks: ClaimedTask[];
      try {
        const res = await this.client.call(
          { kind: "ClaimTask", queues: this.queues, max: Math.min(free, this.maxBatchClaim, MAX_BATCH_SUBMIT), waitMs },
          "Claimed",
          { timeoutMs: waitMs + this.client.channel.options.requestTimeoutMs },
        );
        tasks = res.tasks;
      } catch (err) {
        if (this.state !== "running" || err instanceof ClientClosedError) break;
        // A claim lost with its connection may have leased tasks to us; the broker hands them
        // back when the worker's session is declared gone, so only the pause is ours to do.
        if (!(err instanceof ConnectionError)) this.reportError(err);
        await this.pause(CLAIM_ERROR_PAUSE_MS);
        continue;
      }
      const late: LeaseRef[] = [];
      for (const task of tasks) {
        if (this.stopping !== null) late.push({ id: task.id, token: task.token });
        else this.startRun(task);
      }
      if (late.length > 0) await this.nack(late);
    }
  }

  private startRun(task: ClaimedTask): void {
    const run = new TaskRun(this, this.client, task);
    this.running.set(task.id, run);
    run.start();
  }

  /** Resolves after `ms`, or at once when the worker starts stopping. */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.slotWaiter = null;
        resolve();
      }, ms);
      this.slotWaiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private scheduleHeartbeat(): void {
    if (this.state === "stopped") return;
    this.heartbeatTimer = setTimeout(() => {
      this.heartbeatTimer = null;
      this.heartbeat().finally(() => this.scheduleHeartbeat());
    }, this.heartbeatIntervalMs);
  }

  private async heartbeat(): Promise<void> {
    if (!this.client.channel.isReady) return;
    const runs = [...this.running.values()].filter((r) => r.holdsLease);
    const { cpuPercent, memoryMb } = this.load.sample();
    try {
      const res = await this.client.call(
        { kind: "Heartbeat", workerId: this.workerId, cpuPercent, memoryMb, inFlight: runs.map((r) => r.lease) },
        "HeartbeatOk",
        { idempotent: true, timeoutMs: this.heartbeatIntervalMs },
      );
      runs.forEach((run, i) => {
        const expiresAtMs = res.renewed[i];
        if (expiresAtMs === null) run.leaseLost("the broker no longer holds this lease (expired, reclaimed or cancelled)");
      });
      if (res.command === "quiet" && this.state === "running") {
        this.state = "quiet";
        this.slotWaiter?.();
      } else if (res.command === "shutdown") {
        void this.stop();
      }
    } catch (err) {
      if (!(err instanceof ConnectionError) && !(err instanceof ClientClosedError)) this.reportError(err);
    }
  }

  private async nack(leases: LeaseRef[]): Promise<void> {
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
    this.slotWaiter?.();
    const runs = [...this.running.values()];
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
    if (unfinished.length > 0) await this.nack(unfinished.map((r) => r.lease));
    try {
      await this.client.call({ kind: "DeregisterWorker", workerId: this.workerId }, "Ack", { idempotent: true });
    } catch (err) {
      if (!(err instanceof ClientClosedError) && !(err instanceof ConnectionError)) this.reportError(err);
    }
    this.state = "stopped";
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.removeSignalHandlers();
    await this.client.close();
    await this.claimLoopDone;
    this.emit("stopped");
  }

  private installSignalHandlers(): void {
    let signalled = false;
    this.signalHandler = (signal) => {
      if (signalled) {
        // A second signal: the operator does not want to wait for the drain.
        void this.stop({ timeoutMs: 0 });
        return;
      }
      signalled = true;
      void this.stop().then(() => {
        // Re-raise when nothing else listens, so the process ends as the signal intends.
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
    };
    process.on("SIGTERM", this.signalHandler);
    process.on("SIGINT", this.signalHandler);
  }

  private removeSignalHandlers(): void {
    if (!this.signalHandler) return;
    // Installed until the drain is over, so a second signal during it still forces the exit.
    process.off("SIGTERM", this.signalHandler);
    process.off("SIGINT", this.signalHandler);
    this.signalHandler = null;
  }
}
