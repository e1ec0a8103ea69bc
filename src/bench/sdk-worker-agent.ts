// The default worker agent: the SDK's Worker, set up as `tq-broker worker` runs it by default
// (concurrency 4, prefetch 4 x concurrency, its subscription, outcomes batched per turn), with a
// no-op handler. Counts a completion when its "completed" event says the broker acknowledged it;
// knows no workload. The raw pipelined claimer is worker-agent.ts (--raw).

import { Worker } from "../client/worker.ts";
import { TqError } from "../client/tq-error.ts";
import { countError, epochMs, type ErrorCounts, type JobResult, type WorkerReport, type WorkerSpec } from "./agent-protocol.ts";
import { BENCH_TASK_TYPE } from "./producer-agent.ts";

/** How long the stop at the end may take: only outcomes still in flight are waited for. */
const STOP_TIMEOUT_MS = 10_000;

export async function runSdkWorker(spec: WorkerSpec, ready: () => Promise<void>, stop: Promise<void>, onProgress: (done: number) => void): Promise<JobResult<WorkerReport>> {
  const errors: ErrorCounts = {};
  const ids: string[] = [];
  const latenciesMs: number[] = [];
  let completed = 0;
  let firstClaimMs = 0;
  let lastCompleteMs = 0;
  const worker = new Worker({
    url: `tq://${spec.host.includes(":") ? `[${spec.host}]` : spec.host}:${spec.port}`,
    env: {},
    queues: [spec.queue],
    concurrency: spec.lanes,
    ...(spec.prefetch === null ? {} : { prefetch: spec.prefetch }),
    handleSignals: false,
    clientName: "tq-bench-worker",
  });
  worker.register(BENCH_TASK_TYPE, (task) => {
    // The handler: a no-op, whose start is when the task arrived here.
    if (spec.recordLatency) {
      const payload = task.payload as Uint8Array;
      latenciesMs.push(epochMs() - new DataView(payload.buffer, payload.byteOffset, 8).getFloat64(0));
    }
  });
  worker.on("completed", (task: { id: string }) => {
    completed++;
    if (spec.recordIds) ids.push(task.id);
    lastCompleteMs = epochMs();
    onProgress(completed);
  });
  worker.on("failed", () => countError(errors, "failed"));
  worker.on("error", (err: unknown) => countError(errors, err instanceof TqError ? err.name : "error"));

  const start = async (): Promise<void> => {
    firstClaimMs = epochMs();
    await worker.start();
  };
  // With tasks waiting (W2), the worker starts on "go" and its start is timed, as a deployment's
  // worker starting on a backlog; otherwise it is subscribed before the clock starts.
  if (!spec.preloaded) await start();
  await ready();
  if (spec.preloaded) await start();
  const deadline = new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      countError(errors, "deadline");
      resolve();
    }, spec.deadlineMs);
    void stop.then(() => clearTimeout(timer));
  });
  await Promise.race([stop, deadline]);
  await worker.stop({ timeoutMs: STOP_TIMEOUT_MS });
  return { event: "done", role: "worker", completed, firstClaimMs, lastCompleteMs, errors, ids, latenciesMs };
}
