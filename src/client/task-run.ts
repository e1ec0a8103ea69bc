// TaskRun: one delivered task from handler call to reported outcome: renews its lease at a third
// of the lease while the handler runs, fires ctx.signal on lease loss / timeout / hand-back, gives
// its slot back the moment the handler returns, and reports completed, failed or unrecoverable
// exactly once after that. Deliveries and slots are the Worker's.

import { ErrorCode } from "../protocol/errors.ts";
import type { ClaimedTask, LeaseRef, TaskResultItem } from "../protocol/messages.ts";
import type { TaskOutcome } from "../protocol/wire-values.ts";
import type { Client } from "./client.ts";
import { decodeValue, encodeValue } from "./payload.ts";
import type { ResultSettled } from "./result-batcher.ts";
import { estimateLeaseMs } from "./waiting-tasks.ts";
import { ConnectionError, InvalidFieldError, LeaseLostError, ShuttingDownError, TimeoutError, UnrecoverableError } from "./tq-error.ts";

/** A claimed task as a handler sees it. */
export interface WorkerTask<Payload = unknown> {
  id: string;
  type: string;
  queue: string;
  priority: number;
  /** Failed runs before this one (0 on the first run). */
  attempts: number;
  maxRetries: number;
  /** Parsed JSON, or a Uint8Array when the task was submitted as bytes. */
  payload: Payload;
  createdAtMs: number;
}

export interface TaskContext {
  /** Fires when the lease is lost (the task may run elsewhere, or it was cancelled), on the task timeout, or when shutdown gives up waiting. */
  signal: AbortSignal;
  workerId: string;
  /** When the current lease ends unless renewed (the worker renews it while the handler runs). */
  readonly leaseExpiresAtMs: number;
}

export type Handler<Payload = any, Result = unknown> = (task: WorkerTask<Payload>, ctx: TaskContext) => Result | Promise<Result>;

/** What a run needs from its worker. */
export interface TaskRunHost {
  readonly workerId: string;
  readonly taskTimeoutMs: number;
  readonly defaultLeaseMs: number;
  handlerFor(type: string): Handler | undefined;
  handlerTypes(): string[];
  /** The handler returned (or threw): its slot is free, while the outcome is still being reported. */
  handlerReturned(run: TaskRun): void;
  /** The run is over: its outcome reported (or dropped). */
  runFinished(run: TaskRun): void;
  report(kind: "completed" | "failed" | "cancelled", ...args: unknown[]): void;
  reportError(err: unknown): void;
  /** Sends one result (coalesced with the others of this turn); rejects with that result's own error. */
  sendResult(item: TaskResultItem): Promise<ResultSettled>;
  /** The clock handlers are timed by, in ms (performance.now()). */
  now(): number;
}

type RunState = "running" | "reporting" | "lost" | "handedBack";

type Outcome = { kind: "completed"; result: unknown } | { kind: "failed" | "unrecoverable"; error: unknown };

/** Fewest ms between renewals, whatever the lease: keeps a tiny lease from flooding the broker. */
const MIN_RENEW_EVERY_MS = 30;
/** Sends of one report when the connection drops under it (the broker may have seen an earlier one). */
const REPORT_ATTEMPTS = 3;

export class TaskRun {
  readonly task: WorkerTask;
  readonly lease: LeaseRef;
  /** Settles once the handler has returned (or thrown) and the outcome is dealt with. */
  done: Promise<void> = Promise.resolve();
  /** host.now() when the handler was called (the worker times handlers to size its prefetch). */
  startedMs = 0;
  private readonly host: TaskRunHost;
  private readonly client: Client;
  /** Made when the handler first reads ctx.signal: most handlers never do, and it costs per task. */
  private controller: AbortController | null = null;
  /** Why the run was aborted, once it was (kept for a signal made later). */
  private abortReason: unknown = null;
  private readonly leaseMs: number;
  private state: RunState = "running";
  private expiresAtMs: number;
  private renewTimer: ReturnType<typeof setTimeout> | null = null;

  /** `leaseMs`: the lease length estimated at delivery (the wire carries only the expiry). */
  constructor(host: TaskRunHost, client: Client, claimed: ClaimedTask, leaseMs?: number) {
    this.host = host;
    this.client = client;
    this.lease = { id: claimed.id, token: claimed.token };
    this.expiresAtMs = claimed.expiresAtMs;
    this.leaseMs = leaseMs ?? estimateLeaseMs(claimed.expiresAtMs, host.defaultLeaseMs);
    this.task = {
      id: claimed.id,
      type: claimed.type,
      queue: claimed.queue,
      priority: claimed.priority,
      attempts: claimed.attempts,
      maxRetries: claimed.maxRetries,
      payload: decodeValue(claimed.payload, claimed.payloadIsJson),
      createdAtMs: claimed.createdAtMs,
    };
  }

  /** True while this worker still answers for the lease (heartbeats renew it, shutdown hands it back). */
  get holdsLease(): boolean {
    return this.state === "running";
  }

  start(): void {
    this.startedMs = this.host.now();
    this.done = this.execute();
  }

  /** The broker says the lease is gone: the handler is told to stop and its outcome is dropped. */
  leaseLost(reason: string): void {
    if (this.state !== "running") return;
    this.state = "lost";
    this.stopRenewing();
    const err = new LeaseLostError(ErrorCode.LeaseLost, `task ${this.task.id} (${this.task.type}): ${reason}; its result will not be reported`);
    this.abort(err);
    this.host.reportError(err);
  }

  /** The task was cancelled while it ran (the broker ended the lease): the handler is told to stop, its outcome dropped. */
  cancelled(): void {
    if (this.state !== "running") return;
    this.state = "lost";
    this.stopRenewing();
    this.abort(new LeaseLostError(ErrorCode.LeaseLost, `task ${this.task.id} (${this.task.type}) was cancelled while running; its result will not be reported`));
    this.host.report("cancelled", this.task);
  }

  /** Shutdown gave up waiting: the handler is told to stop; the worker Nacks the lease. */
  handBack(reason: string): void {
    if (this.state !== "running") return;
    this.state = "handedBack";
    this.stopRenewing();
    this.abort(new ShuttingDownError(ErrorCode.ShuttingDown, `task ${this.task.id}: ${reason}`));
  }

  private async execute(): Promise<void> {
    this.scheduleRenew();
    const timeoutMs = this.host.taskTimeoutMs;
    const timer = timeoutMs > 0 ? setTimeout(() => this.timeOut(timeoutMs), timeoutMs) : null;
    let outcome: Outcome;
    try {
      outcome = { kind: "completed", result: await this.invoke() };
    } catch (error) {
      outcome = { kind: isUnrecoverable(error) ? "unrecoverable" : "failed", error };
    }
    if (timer) clearTimeout(timer);
    // The outcome is queued for the broker first (finish runs up to its first await), so the
    // worker's bounds count it; then the slot is free, and the next task starts while this
    // outcome's commit is awaited.
    const reported = this.state === "running" ? this.finish(outcome) : null;
    this.host.handlerReturned(this);
    if (reported !== null) await reported;
    this.stopRenewing();
    this.host.runFinished(this);
  }

  /** ctx.signal: made on first read, aborted already if the run was. */
  private get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.abortReason !== null) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  private abort(reason: Error): void {
    if (this.abortReason !== null) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }

  private async invoke(): Promise<unknown> {
    const handler = this.host.handlerFor(this.task.type);
    if (handler === undefined) {
      const known = this.host.handlerTypes();
      throw new Error(
        `no handler registered for task type ${JSON.stringify(this.task.type)} on worker ${this.host.workerId}` +
          ` (it handles: ${known.length === 0 ? "nothing" : known.join(", ")})`,
      );
    }
    const run = this;
    const ctx: TaskContext = {
      get signal() {
        return run.signal;
      },
      workerId: this.host.workerId,
      get leaseExpiresAtMs() {
        return run.expiresAtMs;
      },
    };
    return handler(this.task, ctx);
  }

  private timeOut(timeoutMs: number): void {
    if (this.state !== "running") return;
    const err = new TimeoutError(ErrorCode.Timeout, `task ${this.task.id} (${this.task.type}) timed out after ${timeoutMs} ms`);
    this.abort(err);
    // Reported now; the slot stays taken until the handler actually returns.
    void this.finish({ kind: "failed", error: err });
  }

  /** Reports the outcome once; later outcomes (a timed-out handler returning) are dropped. */
  private async finish(outcome: Outcome): Promise<void> {
    if (this.state !== "running") return;
    this.state = "reporting";
    this.stopRenewing();
    let body: { outcome: TaskOutcome; resultIsJson: boolean; result: Uint8Array; error: string };
    if (outcome.kind === "completed") {
      try {
        const encoded = outcome.result === undefined ? { bytes: new Uint8Array(0), isJson: false } : encodeValue("result", outcome.result);
        body = { outcome: "completed", resultIsJson: encoded.isJson, result: encoded.bytes, error: "" };
      } catch (err) {
        outcome = { kind: "failed", error: err };
        body = { outcome: "failed", resultIsJson: false, result: new Uint8Array(0), error: describeError(err) };
      }
    } else {
      body = { outcome: outcome.kind, resultIsJson: false, result: new Uint8Array(0), error: describeError(outcome.error) };
    }
    let res: ResultSettled;
    try {
      res = await this.send(body);
    } catch (err) {
      if (outcome.kind !== "completed" || !isResultRefused(err)) {
        this.host.reportError(err);
        return;
      }
      // The result is too big to keep beside the payload (or to send at all): nothing changed at
      // the broker, so the run is reported failed rather than left leased until its lease runs out.
      outcome = { kind: "failed", error: err };
      body = { outcome: "failed", resultIsJson: false, result: new Uint8Array(0), error: describeError(err) };
      try {
        res = await this.send(body);
      } catch (failErr) {
        this.host.reportError(failErr);
        return;
      }
    }
    if (outcome.kind === "completed") this.host.report("completed", this.task, outcome.result);
    else if (res.entry === "fail") {
      this.host.report("failed", this.task, outcome.error, { status: res.status, retryAtMs: res.retryAtMs, attempts: res.attempts });
    }
  }

  private async send(body: { outcome: TaskOutcome; resultIsJson: boolean; result: Uint8Array; error: string }): Promise<ResultSettled> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.host.sendResult({ id: this.lease.id, token: this.lease.token, ...body });
      } catch (err) {
        // After a drop the report may have landed: a resend then finds the lease spent, which
        // means the earlier one counted.
        if (attempt > 1 && err instanceof LeaseLostError) return { entry: "ok" };
        if (!(err instanceof ConnectionError) || attempt >= REPORT_ATTEMPTS) throw err;
      }
    }
  }

  private scheduleRenew(): void {
    if (this.state !== "running") return;
    const everyMs = Math.max(MIN_RENEW_EVERY_MS, Math.floor(this.leaseMs / 3));
    this.renewTimer = setTimeout(() => {
      this.renewTimer = null;
      this.renew().finally(() => this.scheduleRenew());
    }, everyMs);
  }

  private async renew(): Promise<void> {
    try {
      const res = await this.client.call({ kind: "RenewLease", leases: [this.lease] }, "Renewed", {
        idempotent: true,
        timeoutMs: Math.max(1000, this.leaseMs),
      });
      const expiresAtMs = res.expiresAtMs[0];
      if (expiresAtMs === null || expiresAtMs === undefined) this.leaseLost("the broker no longer holds this lease (expired, reclaimed or cancelled)");
      else this.expiresAtMs = expiresAtMs;
    } catch (err) {
      // A dropped connection is the channel's to fix (the heartbeat after reconnect renews too).
      if (!(err instanceof ConnectionError)) this.host.reportError(err);
    }
  }

  private stopRenewing(): void {
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.renewTimer = null;
  }
}

/** The broker (or the encoder, for a result over the frame limit) refused the result itself. */
function isResultRefused(err: unknown): boolean {
  return err instanceof InvalidFieldError && (err.field === "result" || (err.field?.endsWith(".result") ?? false));
}

/**
 * By class, or by name: a handlers module loaded by the compiled CLI imports its own copy of the
 * SDK, whose UnrecoverableError is a different class with the same name.
 */
function isUnrecoverable(error: unknown): boolean {
  return error instanceof UnrecoverableError || (error instanceof Error && error.name === "UnrecoverableError");
}

/** What a failed run records on the task: the error's name and message, then its stack. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return `thrown: ${typeof err === "string" ? err : safeJson(err)}`;
  const head = `${err.name}: ${err.message}`;
  const stack = err.stack ?? "";
  if (stack === "") return head;
  return stack.startsWith(head) ? stack : `${head}\n${stack}`;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
