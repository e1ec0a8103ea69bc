// The bench agents through the gRPC front door (`bench --front grpc`): the producer submits with
// SubmitBatch calls, `window` in flight; each worker lane is one Work stream with 2 x batch
// credits that reports every delivery in one message. The same reports as the TCP agents, so the
// workloads and the table do not know which door was used.

import * as grpc from "@grpc/grpc-js";
import { MAX_FRAME_BYTES } from "../protocol/limits.ts";
import { protoDefinitions } from "../grpc/proto-files.ts";
import { fastBrokerService } from "../grpc/fast-service.ts";
import { countError, epochMs, type ErrorCounts, type JobResult, type ProducerReport, type ProducerSpec, type WorkerReport, type WorkerSpec } from "./agent-protocol.ts";

const BENCH_TASK_TYPE = "bench.noop";
/** Resends of one batch refused with QueueFull before the producer gives up on it. */
const MAX_QUEUE_FULL_RETRIES = 2000;

type Msg = Record<string, any>;

function client(host: string, port: number): grpc.Client & Record<string, any> {
  // SubmitBatch on the hand-written codec, as the broker's side: the bench measures the door, not protobufjs.
  const Broker = grpc.makeGenericClientConstructor(fastBrokerService(protoDefinitions()) as unknown as grpc.ServiceDefinition, "Broker") as any;
  return new Broker(`${host.includes(":") ? `[${host}]` : host}:${port}`, grpc.credentials.createInsecure(), {
    // One HTTP/2 connection per client, as the TCP agents have one socket per lane.
    "grpc.use_local_subchannel_pool": 1,
    "grpc.max_receive_message_length": MAX_FRAME_BYTES,
    "grpc.max_send_message_length": MAX_FRAME_BYTES,
  });
}

/** The error table's name of a failed call (its trailer), else the gRPC status. */
function errorName(err: grpc.ServiceError): string {
  const name = err.metadata?.get("tq-error-name")[0];
  return typeof name === "string" ? name : `grpc ${grpc.status[err.code] ?? err.code}`;
}

export async function runGrpcProducer(spec: ProducerSpec & { grpcPort: number }, ready: () => Promise<void>, stop: Promise<void>, onProgress: (done: number) => void): Promise<JobResult<ProducerReport>> {
  const c = client(spec.host, spec.grpcPort);
  const payload = Buffer.alloc(spec.payloadBytes, 0x61);
  const batches = Math.ceil(spec.n / spec.batch);
  const ids: string[] = spec.recordIds ? new Array<string>(spec.n) : [];
  const errors: ErrorCounts = {};
  let submitted = 0;
  let nextBatch = 0;
  let lastAckMs = 0;
  let gaveUp = false;
  void stop.then(() => {
    gaveUp = true;
  });
  await new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 10_000, (err?: Error) => (err ? reject(err) : resolve())));
  await ready();
  const firstSendMs = epochMs();
  const call = (tasks: Msg[]): Promise<Msg> => new Promise((resolve, reject) => c.SubmitBatch({ tasks }, (err: grpc.ServiceError | null, reply: Msg) => (err ? reject(err) : resolve(reply))));

  const submitBatch = async (index: number): Promise<void> => {
    const from = index * spec.batch;
    const count = Math.min(spec.batch, spec.n - from);
    const tasks: Msg[] = new Array(count);
    for (let i = 0; i < count; i++) tasks[i] = { type: BENCH_TASK_TYPE, queue: spec.queue, payload };
    for (let attempt = 0; attempt <= MAX_QUEUE_FULL_RETRIES && !gaveUp; attempt++) {
      try {
        const reply = await call(tasks);
        lastAckMs = epochMs();
        submitted += reply.outcomes.length;
        if (spec.recordIds) for (let i = 0; i < reply.outcomes.length; i++) ids[from + i] = reply.outcomes[i].id;
        onProgress(submitted);
        return;
      } catch (err) {
        const e = err as grpc.ServiceError;
        countError(errors, errorName(e));
        if (errorName(e) !== "QueueFull") return;
        await Bun.sleep(Math.max(5, Number(e.metadata.get("tq-retry-after-ms")[0] ?? 1000)));
        if (epochMs() - firstSendMs > spec.deadlineMs) gaveUp = true;
      }
    }
  };
  const lane = async (): Promise<void> => {
    while (nextBatch < batches && !gaveUp) {
      if (epochMs() - firstSendMs > spec.deadlineMs) {
        gaveUp = true;
        countError(errors, "deadline");
        return;
      }
      await submitBatch(nextBatch++);
    }
  };
  await Promise.all(Array.from({ length: Math.min(spec.window, batches) }, lane));
  c.close();
  return { event: "done", role: "producer", submitted, firstSendMs, lastAckMs, errors, ids: spec.recordIds ? ids.filter((id) => id !== undefined) : [] };
}

export async function runGrpcWorker(spec: WorkerSpec & { grpcPort: number }, ready: () => Promise<void>, stop: Promise<void>, onProgress: (done: number) => void): Promise<JobResult<WorkerReport>> {
  const clients = Array.from({ length: spec.lanes }, () => client(spec.host, spec.grpcPort));
  await Promise.all(clients.map((c) => new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 10_000, (err?: Error) => (err ? reject(err) : resolve())))));
  const errors: ErrorCounts = {};
  const ids: string[] = [];
  let completed = 0;
  let firstClaimMs = 0;
  let lastCompleteMs = 0;
  await ready();
  const startMs = epochMs();

  const lane = (c: grpc.Client & Record<string, any>, index: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const stream = c.Work();
      let ref = 0;
      const pending = new Map<number, string[]>();
      let ending = false;
      const end = (): void => {
        if (ending) return;
        ending = true;
        stream.end();
      };
      const timer = setTimeout(() => {
        countError(errors, "deadline");
        end();
      }, Math.max(0, spec.deadlineMs - (epochMs() - startMs)));
      void stop.then(end);
      if (firstClaimMs === 0) firstClaimMs = epochMs();
      stream.write({ start: { worker_id: `bench-grpc-${process.pid}-${index}`, hostname: "bench", pid: process.pid, queues: [spec.queue], concurrency: 2 * spec.batch } });
      stream.on("data", (m: Msg) => {
        if (m.kind === "tasks") {
          // The handler: a no-op; one report for the whole delivery.
          const tasks = m.tasks.tasks as Msg[];
          pending.set(++ref, tasks.map((t) => t.id));
          stream.write({ report: { ref, results: tasks.map((t) => ({ id: t.id, token: t.token, outcome: "OUTCOME_COMPLETED" })) } });
        } else if (m.kind === "report_ack") {
          const taskIds = pending.get(m.report_ack.ref) ?? [];
          pending.delete(m.report_ack.ref);
          if (m.report_ack.error) countError(errors, m.report_ack.error.name);
          const before = completed;
          (m.report_ack.entries as Msg[]).forEach((e, i) => {
            if (e.entry !== "ok") {
              countError(errors, e.error?.name ?? `unexpected ${e.entry}`);
              return;
            }
            completed++;
            if (spec.recordIds && taskIds[i] !== undefined) ids.push(taskIds[i]!);
          });
          if (completed > before) {
            lastCompleteMs = epochMs();
            onProgress(completed);
          }
        }
      });
      stream.on("error", (err: grpc.ServiceError) => {
        if (!ending) countError(errors, errorName(err));
      });
      stream.on("status", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  await Promise.all(clients.map(lane));
  for (const c of clients) c.close();
  return { event: "done", role: "worker", completed, firstClaimMs, lastCompleteMs, errors, ids, latenciesMs: [] };
}
