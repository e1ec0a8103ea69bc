// The worker stream (tq.v1.Broker/Work): one bidirectional call per worker. Its first message
// registers the worker and opens a subscription whose sink is the stream, so tasks are pushed
// with the credit flow of TCP's Subscribe; reports, heartbeats and hand-backs are the same broker
// calls as over TCP. The stream is the worker's connection: a half-close is a goodbye
// (deregister), any other end a disconnect (grace, then reclaim). Translates only.

import { authorize } from "../broker/auth.ts";
import type { Broker, BrokerLog, DeliverySink } from "../broker/broker.ts";
import { toBrokerError, type BrokerError } from "../protocol/errors.ts";
import { MAX_RESULT_BATCH, MAX_SUBSCRIBE_CREDITS } from "../protocol/limits.ts";
import type { ServerDuplexStream, StatusObject } from "@grpc/grpc-js";
import type { WorkerNotice } from "../workers/registry.ts";
import { callerOf, checkLoad, workerInfo, type CallContext, type ServiceContext, type WorkerInfoMsg } from "./broker-service.ts";
import type { CallAdmission } from "./grpc-server.ts";
import { grpcStatusName } from "./grpc-status.ts";
import { claimedTask, commandName, errorMessage, invalid, leaseRefs, reportEntry, toReport, type LeaseRefMsg, type TaskResultMsg } from "./task-messages.ts";

/** One subscription per stream: the stream is the consumer. */
const SUBSCRIPTION_ID = 1;

interface WorkRequest {
  kind?: "start" | "report" | "heartbeat" | "nack" | "credits";
  start?: WorkerInfoMsg;
  report?: { ref: number; results: TaskResultMsg[] };
  heartbeat?: { ref: number; cpu_percent: number; memory_mb: number; in_flight: LeaseRefMsg[] };
  nack?: { ref: number; leases: LeaseRefMsg[] };
  credits?: { concurrency: number };
}

type Duplex = ServerDuplexStream<WorkRequest, Record<string, unknown>>;

export interface WorkStreamOptions {
  broker: Broker;
  admission: CallAdmission;
  ctx: ServiceContext;
  log: BrokerLog;
  /** A connection id of its own for each stream (the worker's owner, the subscription's consumer). */
  newId(): number;
  failure(method: string, err: unknown): Partial<StatusObject> & { code: number; details: string };
  onRequest(method: string, grpcStatus: string): void;
  onItemError?(code: number): void;
}

export interface WorkStreams {
  handler: (call: Duplex) => void;
  /** Shutdown: every open stream ends with `err`'s status. */
  endAll(err: BrokerError): void;
}

function checkCredits(concurrency: number, field: string): number {
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_SUBSCRIBE_CREDITS) {
    throw invalid(field, `expected 1-${MAX_SUBSCRIBE_CREDITS}, got ${concurrency}`);
  }
  return concurrency;
}

export function openWorkStream(o: WorkStreamOptions): WorkStreams {
  const open = new Set<(err: BrokerError) => void>();

  const handler = (call: Duplex): void => {
    const streamId = o.newId();
    let context: (CallContext & { done(): void }) | null = null;
    let workerId: string | null = null;
    let queues: string[] = [];
    let finished = false;
    /** Replies being worked on: a goodbye waits for them before it deregisters. */
    const pending = new Set<Promise<unknown>>();

    const write = (message: Record<string, unknown>): void => {
      if (!finished && !call.writableEnded && !call.destroyed) call.write(message);
    };

    const leave = (): void => {
      if (context !== null && workerId !== null) {
        o.broker.consumerGone(streamId);
        o.broker.workerDisconnected(workerId, streamId);
      }
    };

    /** Ends the stream with a status (an error) and treats it as the worker's disconnect. */
    const fail = (err: unknown): void => {
      if (finished) return;
      const status = o.failure("Work", err);
      finished = true;
      open.delete(fail);
      leave();
      context?.done();
      o.onRequest("Work", grpcStatusName(status.code));
      call.emit("error", status);
    };

    const sink: DeliverySink = {
      deliver(_subscriptionId, leases) {
        if (finished || call.writableEnded || call.destroyed) return false;
        call.write({ tasks: { tasks: leases.map(claimedTask) } });
        return true;
      },
      writable: () => !finished && !call.writableEnded && !call.destroyed && !call.writableNeedDrain,
    };
    call.on("drain", () => o.broker.consumerWritable(streamId));

    const notify = (notice: WorkerNotice): void => {
      if (notice.kind === "taskCancelled") write({ cancelled: { id: notice.id, token: notice.token } });
      else write({ command: { command: commandName(notice.command) } });
    };

    const subscribe = (credits: number): void => {
      o.broker.subscribe({
        consumer: streamId,
        subscriptionId: SUBSCRIPTION_ID,
        workerId: workerId!,
        queues,
        credits,
        sink,
        caller: callerOf(context!, streamId, notify),
      });
    };

    const start = (m: WorkerInfoMsg): void => {
      const info = workerInfo(m);
      const credits = checkCredits(m.concurrency, "start.concurrency");
      o.broker.registerWorker(info, callerOf(context!, streamId, notify));
      workerId = info.id;
      queues = info.queues;
      write({ started: { heartbeat_interval_ms: o.ctx.heartbeatIntervalMs, default_lease_ms: o.ctx.defaultLeaseMs } });
      subscribe(credits);
    };

    /** Answers one message; its own errors go into its answer, so the stream stays usable (as a TCP connection does). */
    const track = (work: Promise<unknown>): void => {
      pending.add(work);
      void work.finally(() => pending.delete(work));
    };

    const report = (m: NonNullable<WorkRequest["report"]>): void => {
      track(
        (async () => {
          try {
            if (m.results.length < 1 || m.results.length > MAX_RESULT_BATCH) throw invalid("report.results", `expected 1-${MAX_RESULT_BATCH} results, got ${m.results.length}`);
            const reports = m.results.map((r, i) => toReport(r, `report.results[${i}]`));
            const settled = await o.broker.reportAll(reports);
            for (const s of settled) if (!s.ok) o.onItemError?.(s.error.code);
            write({ report_ack: { ref: m.ref, entries: settled.map(reportEntry) } });
          } catch (err) {
            const e = toBrokerError(err);
            o.onItemError?.(e.code);
            write({ report_ack: { ref: m.ref, entries: [], error: errorMessage(e) } });
          }
        })(),
      );
    };

    const heartbeat = (m: NonNullable<WorkRequest["heartbeat"]>): void => {
      track(
        (async () => {
          try {
            checkLoad(m.cpu_percent);
            const refs = leaseRefs(m.in_flight, "heartbeat.in_flight");
            const reply = await o.broker.heartbeat(workerId!, { cpuPercent: m.cpu_percent, memoryMb: m.memory_mb, inFlight: refs.length }, refs, callerOf(context!, streamId, notify));
            write({ heartbeat_ack: { ref: m.ref, command: commandName(reply.command), renewed: reply.renewed.map((ms) => ms ?? 0) } });
          } catch (err) {
            const e = toBrokerError(err);
            o.onItemError?.(e.code);
            write({ heartbeat_ack: { ref: m.ref, renewed: [], error: errorMessage(e) } });
          }
        })(),
      );
    };

    const nack = (m: NonNullable<WorkRequest["nack"]>): void => {
      track(
        (async () => {
          try {
            await o.broker.release(leaseRefs(m.leases, "nack.leases"));
            write({ nack_ack: { ref: m.ref } });
          } catch (err) {
            const e = toBrokerError(err);
            o.onItemError?.(e.code);
            write({ nack_ack: { ref: m.ref, error: errorMessage(e) } });
          }
        })(),
      );
    };

    const receive = (m: WorkRequest): void => {
      if (finished) return;
      try {
        if (workerId === null) {
          if (m.kind !== "start") throw invalid("start", `the first message must be start, got ${m.kind ?? "an empty message"}`);
          start(m.start!);
          return;
        }
        switch (m.kind) {
          case "report":
            return report(m.report!);
          case "heartbeat":
            return heartbeat(m.heartbeat!);
          case "nack":
            return nack(m.nack!);
          case "credits":
            return subscribe(checkCredits(m.credits!.concurrency, "credits.concurrency"));
          case "start":
            throw invalid("start", "sent twice: a stream serves one worker");
          default:
            throw invalid("kind", "an empty message");
        }
      } catch (err) {
        fail(err);
      }
    };

    /** The worker half-closed: a clean goodbye once every answer it awaits is out. */
    const goodbye = async (): Promise<void> => {
      // Under Bun a cancelled stream's reading side can end before the cancel is seen: a cut, not
      // a goodbye, must not hand the worker's tasks back at once.
      await new Promise((resolve) => setImmediate(resolve));
      if (finished || call.cancelled) return;
      try {
        if (workerId !== null) {
          o.broker.consumerGone(streamId);
          while (pending.size > 0) await Promise.allSettled([...pending]);
          await o.broker.deregisterWorker(workerId, callerOf(context!, streamId, notify));
        }
      } catch (err) {
        fail(err);
        return;
      }
      if (finished) return;
      finished = true;
      open.delete(fail);
      context?.done();
      o.onRequest("Work", "OK");
      call.end();
    };

    try {
      const { conn, principal } = o.admission.admit(call, "Work");
      for (const operation of ["claim", "heartbeat"] as const) {
        const refused = authorize(principal, operation);
        if (refused !== null) throw refused;
      }
      context = o.admission.contextOf(call, conn, principal);
    } catch (err) {
      fail(err);
      return;
    }
    open.add(fail);
    call.on("data", receive);
    call.on("end", () => void goodbye());
    const cut = (): void => {
      if (finished) return;
      finished = true;
      open.delete(fail);
      leave();
      context?.done();
      o.onRequest("Work", "CANCELLED");
    };
    call.on("cancelled", cut);
    call.on("close", cut);
    call.on("error", (err) => o.log.debug("worker stream error", { err, worker: workerId }));
  };

  return {
    handler,
    endAll(err) {
      for (const fail of [...open]) fail(err);
    },
  };
}

