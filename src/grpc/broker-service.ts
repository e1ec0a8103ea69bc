// The unary methods of tq.v1.Broker: each method -> the permission it needs and a handler that
// turns the request message into one broker call and the result into the reply message — the
// sibling of net/dispatch.ts, holding no queue rules. Errors thrown are BrokerErrors; the server
// (grpc-server.ts) answers them with the status of grpc-status.ts.

import type { Broker, WorkerCaller } from "../broker/broker.ts";
import type { Operation, Principal } from "../broker/auth.ts";
import { BrokerError, ErrorCode } from "../protocol/errors.ts";
import {
  MAX_BATCH_SUBMIT,
  MAX_CLAIM_QUEUES,
  MAX_CLAIM_WAIT_MS,
  MAX_FRAME_BYTES,
  MAX_LABEL_BYTES,
  MAX_LIST_LIMIT,
  MAX_RESULT_BATCH,
  MAX_STR_BYTES,
  MAX_TYPE_BYTES,
  MAX_WORKER_ID_BYTES,
  MAX_WORKER_LABELS,
  PROTOCOL_VERSION,
} from "../protocol/limits.ts";
import type { WorkerInfo } from "../workers/registry.ts";
import { workerView } from "../workers/registry.ts";
import type { GrpcConnection } from "./grpc-connections.ts";
import {
  claimedTask,
  commandName,
  failOutcome,
  inProtoNames,
  invalid,
  leaseRefs,
  reportEntry,
  statusFromName,
  statusName,
  taskId,
  taskMessage,
  toReport,
  toSubmitSpec,
  type LeaseRefMsg,
  type TaskResultMsg,
  type TaskSpecMsg,
} from "./task-messages.ts";

/** What a handler knows of the call it serves. */
export interface CallContext {
  readonly conn: GrpcConnection;
  readonly principal: Principal;
  /** Aborted when the call is cancelled (by the client, or at its deadline) or its connection closes. */
  readonly signal: AbortSignal;
  /** Milliseconds until the call's deadline; Infinity without one. */
  msLeft(): number;
}

export interface ServiceContext {
  broker: Broker;
  serverVersion: string;
  heartbeatIntervalMs: number;
  defaultLeaseMs: number;
  maxBatchClaim: number;
  extraStats(): Record<string, unknown>;
}

export interface UnaryRoute {
  /** Permission needed; null = any valid key (or none with auth off). */
  operation: Operation | null;
  handle(ctx: ServiceContext, call: CallContext, request: never): unknown;
}

/** Time to spare before a deadline, so that an empty answer arrives in time: a fifth of it, at most a second. */
function deadlineMarginMs(msLeft: number): number {
  return Math.min(1000, msLeft / 5);
}

/** A blocking wait as long as asked, but answered before the call's deadline. */
export function waitWithin(call: CallContext, waitMs: number): number {
  const left = call.msLeft();
  if (left === Infinity) return waitMs;
  return Math.max(0, Math.min(waitMs, Math.floor(left - deadlineMarginMs(left))));
}

export function callerOf(call: CallContext, connectionId = call.conn.id, notify?: WorkerCaller["notify"]): WorkerCaller {
  return {
    connectionId,
    principal: call.principal.name,
    admin: call.principal.role === "admin",
    address: call.conn.remoteAddress,
    ...(notify === undefined ? {} : { notify }),
  };
}

export function checkWorkerId(workerId: string, field = "worker_id"): string {
  const bytes = Buffer.byteLength(workerId, "utf8");
  if (bytes === 0 || bytes > MAX_WORKER_ID_BYTES) throw invalid(field, `expected 1-${MAX_WORKER_ID_BYTES} bytes, got ${bytes}`);
  return workerId;
}

function checkString(field: string, value: string, maxBytes: number): string {
  if (Buffer.byteLength(value, "utf8") > maxBytes) throw invalid(field, `longer than ${maxBytes} bytes`);
  return value;
}

function checkCount(field: string, n: number, min: number, max: number): void {
  if (n < min || n > max) throw invalid(field, `expected ${min}-${max} items, got ${n}`);
}

export interface WorkerInfoMsg {
  worker_id: string;
  hostname: string;
  pid: number;
  queues: string[];
  concurrency: number;
  version: string;
  labels: Record<string, string>;
}

/** RegisterWorker's and WorkStart's fields, checked against the TCP protocol's limits. */
export function workerInfo(m: WorkerInfoMsg): WorkerInfo {
  checkCount("queues", m.queues.length, 0, MAX_CLAIM_QUEUES);
  const labels = Object.entries(m.labels ?? {});
  checkCount("labels", labels.length, 0, MAX_WORKER_LABELS);
  for (const [key, value] of labels) {
    checkString(`labels[${JSON.stringify(key)}]`, key, MAX_LABEL_BYTES);
    checkString(`labels[${JSON.stringify(key)}]`, value, MAX_LABEL_BYTES);
  }
  if (m.concurrency < 1) throw invalid("concurrency", "must be at least 1");
  return {
    id: checkWorkerId(m.worker_id),
    hostname: checkString("hostname", m.hostname, MAX_STR_BYTES),
    pid: m.pid,
    queues: m.queues,
    concurrency: m.concurrency,
    version: checkString("version", m.version, MAX_STR_BYTES),
    labels: Object.fromEntries(labels),
  };
}

export function checkLoad(cpuPercent: number): void {
  if (!(cpuPercent >= 0 && cpuPercent <= 1e6)) throw invalid("cpu_percent", `${cpuPercent} is not a percentage`);
}

/** A unary worker call names a worker registered on its connection (or, for an admin key, any). */
function workerOfCall(call: CallContext, workerId: string): string {
  if (workerId === "") return call.conn.defaultWorkerId;
  checkWorkerId(workerId);
  if (call.conn.workerIds.has(workerId) || call.principal.role === "admin") return workerId;
  throw new BrokerError(
    ErrorCode.Forbidden,
    `worker ${JSON.stringify(workerId)} is not registered on this connection: call RegisterWorker (or Heartbeat) on the same channel first`,
    { field: "worker_id" },
  );
}

async function submit(ctx: ServiceContext, specs: readonly TaskSpecMsg[], batch: boolean): Promise<Record<string, unknown>[]> {
  try {
    const outcomes = await ctx.broker.submit(specs.map((m, i) => toSubmitSpec(m, batch ? `tasks[${i}].` : "")));
    return outcomes.map((o) => ({ id: o.id, status: statusName(o.status), duplicate: o.duplicate }));
  } catch (err) {
    throw inProtoNames(err);
  }
}

interface IdRequest {
  id: string;
}

export const UNARY_ROUTES: Record<string, UnaryRoute> = {
  GetServerInfo: {
    operation: null,
    handle: (ctx: ServiceContext, call: CallContext) => ({
      protocol_version: PROTOCOL_VERSION,
      server_version: ctx.serverVersion,
      max_message_bytes: MAX_FRAME_BYTES,
      max_batch_claim: ctx.maxBatchClaim,
      heartbeat_interval_ms: ctx.heartbeatIntervalMs,
      default_lease_ms: ctx.defaultLeaseMs,
      key_name: call.principal.name,
      role: call.principal.role,
    }),
  },
  Submit: {
    operation: "submit",
    handle: async (ctx: ServiceContext, _c: CallContext, req: { task: TaskSpecMsg | null }) => (await submit(ctx, [req.task as TaskSpecMsg], false))[0],
  },
  SubmitBatch: {
    operation: "submit",
    async handle(ctx: ServiceContext, _c: CallContext, req: { tasks: TaskSpecMsg[] }) {
      checkCount("tasks", req.tasks.length, 1, MAX_BATCH_SUBMIT);
      return { outcomes: await submit(ctx, req.tasks, true) };
    },
  },
  GetTask: {
    operation: "status",
    handle: async (ctx: ServiceContext, _c: CallContext, req: IdRequest) => taskMessage(await ctx.broker.get(taskId(req.id))),
  },
  WaitResult: {
    operation: "result",
    async handle(ctx: ServiceContext, call: CallContext, req: IdRequest & { wait_ms: number }) {
      const id = taskId(req.id);
      if (req.wait_ms > MAX_CLAIM_WAIT_MS) throw invalid("wait_ms", `${req.wait_ms} is over the limit of ${MAX_CLAIM_WAIT_MS}`);
      return taskMessage(await ctx.broker.waitResult(id, waitWithin(call, req.wait_ms), call.signal));
    },
  },
  CancelTask: {
    operation: "cancel",
    handle: async (ctx: ServiceContext, _c: CallContext, req: IdRequest) => taskMessage(await ctx.broker.cancel(taskId(req.id))),
  },
  RetryTask: {
    operation: "retry",
    handle: async (ctx: ServiceContext, _c: CallContext, req: IdRequest) => taskMessage(await ctx.broker.retry(taskId(req.id))),
  },
  ListTasks: {
    operation: "list",
    async handle(ctx: ServiceContext, _c: CallContext, req: { status: string; queue: string; type: string; limit: number; cursor: string }) {
      const limit = req.limit === 0 ? 100 : req.limit;
      if (limit > MAX_LIST_LIMIT) throw invalid("limit", `${limit} is outside 1..${MAX_LIST_LIMIT}`);
      checkString("type", req.type, MAX_TYPE_BYTES);
      const status = statusFromName(req.status, "status");
      const page = await ctx.broker.list({
        ...(status === undefined ? {} : { status }),
        ...(req.queue === "" ? {} : { queue: req.queue }),
        ...(req.type === "" ? {} : { type: req.type }),
        limit,
        ...(req.cursor === "" ? {} : { cursor: req.cursor }),
      });
      return { tasks: page.tasks.map(taskMessage), next_cursor: page.nextCursor ?? "" };
    },
  },
  GetStats: {
    operation: "stats",
    handle: async (ctx: ServiceContext) => ({ json: JSON.stringify({ ...(await ctx.broker.stats()), ...ctx.extraStats() }) }),
  },
  ListWorkers: {
    operation: "workers",
    handle: (ctx: ServiceContext) => ({ json: JSON.stringify(ctx.broker.workers.list().map(workerView)) }),
  },
  RegisterWorker: {
    operation: "heartbeat",
    handle(ctx: ServiceContext, call: CallContext, req: WorkerInfoMsg) {
      const info = workerInfo(req);
      ctx.broker.registerWorker(info, callerOf(call));
      call.conn.workerIds.add(info.id);
      return { heartbeat_interval_ms: ctx.heartbeatIntervalMs };
    },
  },
  Heartbeat: {
    operation: "heartbeat",
    async handle(ctx: ServiceContext, call: CallContext, req: { worker_id: string; cpu_percent: number; memory_mb: number; in_flight: LeaseRefMsg[] }) {
      const workerId = checkWorkerId(req.worker_id);
      checkLoad(req.cpu_percent);
      const refs = leaseRefs(req.in_flight, "in_flight");
      const reply = await ctx.broker.heartbeat(workerId, { cpuPercent: req.cpu_percent, memoryMb: req.memory_mb, inFlight: refs.length }, refs, callerOf(call));
      call.conn.workerIds.add(workerId);
      return { command: commandName(reply.command), renewed: reply.renewed.map((ms) => ms ?? 0) };
    },
  },
  DeregisterWorker: {
    operation: "heartbeat",
    async handle(ctx: ServiceContext, call: CallContext, req: { worker_id: string }) {
      const workerId = checkWorkerId(req.worker_id);
      const handedBack = await ctx.broker.deregisterWorker(workerId, callerOf(call));
      call.conn.workerIds.delete(workerId);
      return { tasks_handed_back: handedBack };
    },
  },
  Claim: {
    operation: "claim",
    async handle(ctx: ServiceContext, call: CallContext, req: { worker_id: string; queues: string[]; max: number; wait_ms: number }) {
      const workerId = workerOfCall(call, req.worker_id);
      checkCount("queues", req.queues.length, 0, MAX_CLAIM_QUEUES);
      if (req.wait_ms > MAX_CLAIM_WAIT_MS) throw invalid("wait_ms", `${req.wait_ms} is over the limit of ${MAX_CLAIM_WAIT_MS}`);
      const leases = await ctx.broker.claim({
        workerId,
        queues: req.queues,
        max: req.max,
        waitMs: waitWithin(call, req.wait_ms),
        signal: call.signal,
        caller: callerOf(call),
      });
      call.conn.workerIds.add(workerId);
      if (call.signal.aborted && leases.length > 0) {
        // The caller is gone (cancelled, or its deadline passed first): the tasks go back at once, unstarted.
        await ctx.broker.release(leases.map((l) => ({ id: l.task.id, token: l.token })));
        return { tasks: [] };
      }
      return { tasks: leases.map(claimedTask) };
    },
  },
  RenewLeases: {
    operation: "report",
    handle: async (ctx: ServiceContext, _c: CallContext, req: { leases: LeaseRefMsg[] }) => ({
      expires_at_ms: (await ctx.broker.renew(leaseRefs(req.leases))).map((ms) => ms ?? 0),
    }),
  },
  ReportResult: {
    operation: "report",
    async handle(ctx: ServiceContext, _c: CallContext, req: { result: TaskResultMsg | null }) {
      const report = toReport(req.result, "result");
      if ("completed" in report) {
        await ctx.broker.complete(report.lease, report.completed);
        return {};
      }
      return { fail: failOutcome(await ctx.broker.fail(report.lease, report.failed)) };
    },
  },
  ReportResults: {
    operation: "report",
    async handle(ctx: ServiceContext, _c: CallContext, req: { results: TaskResultMsg[] }) {
      checkCount("results", req.results.length, 1, MAX_RESULT_BATCH);
      const reports = req.results.map((r, i) => toReport(r, `results[${i}]`));
      return { entries: (await ctx.broker.reportAll(reports)).map(reportEntry) };
    },
  },
  Nack: {
    operation: "report",
    async handle(ctx: ServiceContext, _c: CallContext, req: { leases: LeaseRefMsg[] }) {
      await ctx.broker.release(leaseRefs(req.leases));
      return {};
    },
  },
};
