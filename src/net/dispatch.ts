// The verb table of the TCP front door: each request kind -> the permission it needs and a
// handler that turns the request into a broker call and the result into a response. Handlers
// hold no queue rules (those live in broker/); errors thrown are BrokerErrors, answered by the
// connection with an Error frame.

import type { Broker, DeliverySink, ReportSettled, ResultReport, WorkerCaller } from "../broker/broker.ts";
import { ANONYMOUS_ADMIN, type Operation, type Principal } from "../broker/auth.ts";
import { errorResponse } from "../protocol/error-response.ts";
import { BrokerError, ErrorCode } from "../protocol/errors.ts";
import { MAX_FRAME_BYTES, NOTICE, PROTOCOL_VERSION } from "../protocol/limits.ts";
import type { ClaimedTask, Request, RequestOf, Response, ResultEntry, TaskInfo, TaskResultItem } from "../protocol/messages.ts";
import { fitOneReply } from "../protocol/task-size.ts";
import type { Lease, Task, TaskResultIn, TaskStatus } from "../rules/task.ts";
import { workerView, type WorkerNotice } from "../workers/registry.ts";

/** What a handler knows of the connection it serves. */
export interface Session {
  readonly id: number;
  readonly remoteAddress: string;
  principal: Principal | null;
  /** The worker id claims are made under when the client did not register one. */
  workerId: string;
  /** Worker ids registered or heard from over this connection (reclaimed when it closes). */
  readonly workerIds: Set<string>;
  /** Aborted when the connection closes: parked claims and result waits stop. */
  readonly closed: AbortSignal;
  /** Notices (NOTICE bits) the client enabled with EnableNotices; none until it does. */
  notices?: number;
  /** Sends a frame that answers no request (a notice, a delivery) on this connection. */
  readonly push?: (response: Response) => void;
  /** False while the connection cannot take more pushed bytes (its outbound buffer is over its cap, or it is closing). */
  readonly pushable?: () => boolean;
}

export interface DispatchContext {
  broker: Broker;
  serverVersion: string;
  heartbeatIntervalMs: number;
  defaultLeaseMs: number;
  maxBatchClaim: number;
  authenticate(apiKey: string, session: Session): void;
  extraStats(): Record<string, unknown>;
  /**
   * A batch item answered with an error entry instead of an Error frame: the error metrics count
   * it as they count a TaskResult refused alone.
   */
  itemError?(code: number): void;
}

type Handler<K extends Request["kind"]> = (
  ctx: DispatchContext,
  session: Session,
  request: RequestOf<K>,
) => Response | Promise<Response>;

interface Route<K extends Request["kind"]> {
  /** Permission needed; null = allowed before and without authentication. */
  operation: Operation | null;
  /** Answered when ready instead of in request order (it may wait a long time). */
  unordered?: boolean;
  /**
   * Its reply carries whole tasks (payload and result, up to 16 MiB each): a connection may have
   * only a few of these outstanding, so a tiny request cannot multiply into huge queued replies.
   */
  heavy?: boolean;
  handle: Handler<K>;
}

type RouteTable = { [K in Request["kind"]]: Route<K> };

function toClaimedTask(lease: Lease): ClaimedTask {
  const t = lease.task;
  return {
    id: t.id,
    token: lease.token,
    expiresAtMs: lease.expiresAtMs,
    attempts: t.attempts,
    priority: t.priority,
    queue: t.queue,
    type: t.type,
    payloadIsJson: t.payloadIsJson,
    payload: t.payload,
    createdAtMs: t.createdAtMs,
    maxRetries: t.maxRetries,
  };
}

/** A task as one reply frame carries it (see fitOneReply: every task the broker stores fits). */
function taskInfo(requestId: number, task: Task): Response {
  return { kind: "TaskInfo", requestId, task: fitOneReply(task) };
}

/** A result as the store keeps it: an empty non-JSON result is "no result". */
function resultIn(item: TaskResultItem): TaskResultIn {
  return { result: item.result.byteLength === 0 && !item.resultIsJson ? null : item.result, resultIsJson: item.resultIsJson };
}

function toReport(item: TaskResultItem): ResultReport {
  const lease = { id: item.id, token: item.token };
  if (item.outcome === "completed") return { lease, completed: resultIn(item) };
  return { lease, failed: { error: item.error, unrecoverable: item.outcome === "unrecoverable" } };
}

function toResultEntry(settled: ReportSettled): ResultEntry {
  if (!settled.ok) {
    const { code, retryAfterMs, field, message } = errorResponse(0, settled.error);
    return { entry: "error", code, retryAfterMs, field, message };
  }
  const f = settled.failure;
  return f === null ? { entry: "ok" } : { entry: "fail", status: f.status, retryAtMs: f.retryAtMs, attempts: f.attempts };
}

function checkWorkerId(workerId: string): string {
  if (workerId === "") throw new BrokerError(ErrorCode.InvalidField, "worker_id: expected a non-empty worker id", { field: "worker_id" });
  return workerId;
}

/** The connection as the broker judges who may act for a worker, and how to reach its worker. */
function callerOf(session: Session): WorkerCaller {
  const principal = session.principal ?? ANONYMOUS_ADMIN;
  return {
    connectionId: session.id,
    principal: principal.name,
    admin: principal.role === "admin",
    address: session.remoteAddress,
    notify: (notice) => pushNotice(session, notice),
  };
}

/** A subscription's tasks go out as Delivery frames on the connection that subscribed. */
function deliverySink(session: Session): DeliverySink {
  return {
    deliver(subscriptionId, leases) {
      if (session.closed.aborted || session.push === undefined) return false;
      session.push({ kind: "Delivery", requestId: 0, subscriptionId, tasks: leases.map(toClaimedTask) });
      return true;
    },
    writable: () => !session.closed.aborted && (session.pushable?.() ?? true),
  };
}

/** Only to a client that asked: one written before notices existed would not know the frame. */
function pushNotice(session: Session, notice: WorkerNotice): void {
  if (notice.kind === "taskCancelled" && ((session.notices ?? 0) & NOTICE.taskCancelled) !== 0 && !session.closed.aborted) {
    session.push?.({ kind: "TaskCancelled", requestId: 0, id: notice.id, token: notice.token });
  }
}

export const ROUTES: RouteTable = {
  Hello: {
    operation: null,
    handle(ctx, session, req) {
      if (req.version !== PROTOCOL_VERSION) {
        throw new BrokerError(ErrorCode.UnsupportedVersion, `protocol version ${req.version} is not supported; this broker speaks ${PROTOCOL_VERSION}`, {
          field: "version",
        });
      }
      ctx.authenticate(req.apiKey, session);
      return {
        kind: "HelloOk",
        requestId: req.requestId,
        version: PROTOCOL_VERSION,
        serverVersion: ctx.serverVersion,
        maxFrameBytes: MAX_FRAME_BYTES,
        maxBatchClaim: ctx.maxBatchClaim,
        heartbeatIntervalMs: ctx.heartbeatIntervalMs,
        defaultLeaseMs: ctx.defaultLeaseMs,
      };
    },
  },
  Ping: { operation: null, handle: (_ctx, _s, req) => ({ kind: "Pong", requestId: req.requestId }) },
  EnableNotices: {
    operation: "heartbeat",
    handle(_ctx, session, req) {
      session.notices = req.notices;
      return { kind: "Ack", requestId: req.requestId };
    },
  },
  SubmitTask: {
    operation: "submit",
    async handle(ctx, _s, req) {
      const [outcome] = await ctx.broker.submit([req.task]);
      return { kind: "Submitted", requestId: req.requestId, id: outcome!.id, status: outcome!.status, duplicate: outcome!.duplicate };
    },
  },
  SubmitBatch: {
    operation: "submit",
    async handle(ctx, _s, req) {
      const outcomes = await ctx.broker.submit(req.tasks);
      return { kind: "SubmittedBatch", requestId: req.requestId, outcomes };
    },
  },
  ClaimTask: {
    operation: "claim",
    unordered: true,
    async handle(ctx, session, req) {
      const leases = await ctx.broker.claim({
        workerId: session.workerId,
        queues: req.queues,
        max: req.max,
        waitMs: req.waitMs,
        signal: session.closed,
        caller: callerOf(session),
      });
      session.workerIds.add(session.workerId);
      return { kind: "Claimed", requestId: req.requestId, tasks: leases.map(toClaimedTask) };
    },
  },
  Subscribe: {
    operation: "claim",
    handle(ctx, session, req) {
      ctx.broker.subscribe({
        consumer: session.id,
        subscriptionId: req.subscriptionId,
        workerId: session.workerId,
        queues: req.queues,
        credits: req.credits,
        sink: deliverySink(session),
        caller: callerOf(session),
      });
      session.workerIds.add(session.workerId);
      return { kind: "Ack", requestId: req.requestId };
    },
  },
  Unsubscribe: {
    operation: "claim",
    handle(ctx, session, req) {
      ctx.broker.unsubscribe(session.id, req.subscriptionId);
      return { kind: "Ack", requestId: req.requestId };
    },
  },
  TaskResult: {
    operation: "report",
    async handle(ctx, _s, req) {
      const lease = { id: req.id, token: req.token };
      if (req.outcome === "completed") {
        await ctx.broker.complete(lease, resultIn(req));
        return { kind: "Ack", requestId: req.requestId };
      }
      const outcome = await ctx.broker.fail(lease, { error: req.error, unrecoverable: req.outcome === "unrecoverable" });
      return { kind: "FailOutcome", requestId: req.requestId, status: outcome.status, retryAtMs: outcome.retryAtMs, attempts: outcome.attempts };
    },
  },
  TaskResultBatch: {
    operation: "report",
    async handle(ctx, _s, req) {
      const settled = await ctx.broker.reportAll(req.results.map(toReport));
      for (const s of settled) if (!s.ok) ctx.itemError?.(s.error.code);
      return { kind: "ResultBatchOutcome", requestId: req.requestId, entries: settled.map(toResultEntry) };
    },
  },
  Nack: {
    operation: "report",
    async handle(ctx, _s, req) {
      await ctx.broker.release(req.leases);
      return { kind: "Ack", requestId: req.requestId };
    },
  },
  RenewLease: {
    operation: "report",
    async handle(ctx, _s, req) {
      const expiresAtMs = await ctx.broker.renew(req.leases);
      return { kind: "Renewed", requestId: req.requestId, expiresAtMs };
    },
  },
  Heartbeat: {
    operation: "heartbeat",
    async handle(ctx, session, req) {
      const workerId = checkWorkerId(req.workerId);
      const reply = await ctx.broker.heartbeat(
        workerId,
        { cpuPercent: req.cpuPercent, memoryMb: req.memoryMb, inFlight: req.inFlight.length },
        req.inFlight,
        callerOf(session),
      );
      session.workerIds.add(workerId);
      return { kind: "HeartbeatOk", requestId: req.requestId, command: reply.command, renewed: reply.renewed };
    },
  },
  RegisterWorker: {
    operation: "heartbeat",
    handle(ctx, session, req) {
      const workerId = checkWorkerId(req.workerId);
      ctx.broker.registerWorker(
        {
          id: workerId,
          hostname: req.hostname,
          pid: req.pid,
          queues: req.queues,
          concurrency: req.concurrency,
          version: req.version,
          labels: Object.fromEntries(req.labels.map((l) => [l.key, l.value])),
        },
        callerOf(session),
      );
      // Claims on this connection are made for the registered worker from now on.
      session.workerIds.add(workerId);
      session.workerId = workerId;
      return { kind: "Registered", requestId: req.requestId, heartbeatIntervalMs: ctx.heartbeatIntervalMs };
    },
  },
  DeregisterWorker: {
    operation: "heartbeat",
    async handle(ctx, session, req) {
      await ctx.broker.deregisterWorker(checkWorkerId(req.workerId), callerOf(session));
      session.workerIds.delete(req.workerId);
      return { kind: "Ack", requestId: req.requestId };
    },
  },
  QueryStatus: {
    heavy: true,
    operation: "status",
    async handle(ctx, _s, req) {
      return taskInfo(req.requestId, await ctx.broker.get(req.id));
    },
  },
  WaitResult: {
    heavy: true,
    operation: "result",
    unordered: true,
    async handle(ctx, session, req) {
      return taskInfo(req.requestId, await ctx.broker.waitResult(req.id, req.waitMs, session.closed));
    },
  },
  CancelTask: {
    heavy: true,
    operation: "cancel",
    async handle(ctx, _s, req) {
      return taskInfo(req.requestId, await ctx.broker.cancel(req.id));
    },
  },
  RetryTask: {
    heavy: true,
    operation: "retry",
    async handle(ctx, _s, req) {
      return taskInfo(req.requestId, await ctx.broker.retry(req.id));
    },
  },
  ListTasks: {
    heavy: true,
    operation: "list",
    async handle(ctx, _s, req) {
      const page = await ctx.broker.list({
        status: req.status as TaskStatus | undefined,
        queue: req.queue,
        type: req.type,
        limit: req.limit,
        cursor: req.cursor,
        order: req.order,
      });
      const tasks: TaskInfo[] = page.tasks.map(fitOneReply);
      return { kind: "TaskList", requestId: req.requestId, tasks, nextCursor: page.nextCursor };
    },
  },
  GetStats: {
    operation: "stats",
    async handle(ctx, _s, req) {
      return { kind: "Stats", requestId: req.requestId, json: JSON.stringify({ ...(await ctx.broker.stats()), ...ctx.extraStats() }) };
    },
  },
  ListWorkers: {
    operation: "workers",
    async handle(ctx, _s, req) {
      // What each holds now, from the broker's leases (one read for all): a heartbeat's inFlight is up to an interval old.
      const running = await ctx.broker.runningByWorker();
      const json = JSON.stringify(ctx.broker.workers.list().map((w) => ({ ...workerView(w), running: running.get(w.id) ?? 0 })));
      return { kind: "Workers", requestId: req.requestId, json };
    },
  },
};
