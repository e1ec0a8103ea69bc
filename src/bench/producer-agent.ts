// The producer agents: `runProducer` submits N tasks as fast as the protocol allows (pipelined
// SubmitBatch frames, W1/W2/W3); `runPacedProducer` submits one task at a time on a fixed
// schedule with its send time in the payload (W4). They only submit; timing is read by the caller.

import { ErrorCode, errorSpec } from "../protocol/errors.ts";
import type { Response, TaskSpec } from "../protocol/messages.ts";
import { countError, epochMs, type ErrorCounts, type JobResult, type PacedProducerSpec, type ProducerReport, type ProducerSpec } from "./agent-protocol.ts";
import { WireConn } from "./wire-conn.ts";

/** The task type every bench task carries: workers run a no-op for it. */
export const BENCH_TASK_TYPE = "bench.noop";
/** Resends of one batch refused with QueueFull before the producer gives up on it. */
const MAX_QUEUE_FULL_RETRIES = 2000;
/** W4 writes a float64 send time at the payload's start, so payloads are at least this big. */
export const TIMESTAMP_BYTES = 8;

export function errorName(r: Response): string {
  if (r.kind !== "Error") return `unexpected ${r.kind}`;
  return r.code === -1 ? "connection" : errorSpec(r.code).name;
}

export async function runProducer(
  spec: ProducerSpec,
  ready: () => Promise<void>,
  stop: Promise<void>,
  onProgress: (done: number) => void,
): Promise<JobResult<ProducerReport>> {
  const conn = await WireConn.open(spec.host, spec.port);
  const payload = new Uint8Array(spec.payloadBytes).fill(0x61);
  const batches = Math.ceil(spec.n / spec.batch);
  const ids: string[] = spec.recordIds ? new Array<string>(spec.n) : [];
  const errors: ErrorCounts = {};
  let submitted = 0;
  let nextBatch = 0;
  let lastAckMs = 0;
  let gaveUp = false;
  // Told to stop (the bench gave up, or died and closed stdin): no more batches go out.
  void stop.then(() => {
    gaveUp = true;
  });
  await ready();
  const firstSendMs = epochMs();

  const submitBatch = async (index: number): Promise<void> => {
    const from = index * spec.batch;
    const count = Math.min(spec.batch, spec.n - from);
    const tasks: TaskSpec[] = new Array(count);
    for (let i = 0; i < count; i++) tasks[i] = { type: BENCH_TASK_TYPE, queue: spec.queue, payload, payloadIsJson: false };
    for (let attempt = 0; attempt <= MAX_QUEUE_FULL_RETRIES && !gaveUp; attempt++) {
      const r = await conn.send({ kind: "SubmitBatch", tasks });
      if (r.kind === "SubmittedBatch") {
        lastAckMs = epochMs();
        submitted += r.outcomes.length;
        if (spec.recordIds) for (let i = 0; i < r.outcomes.length; i++) ids[from + i] = r.outcomes[i]!.id;
        onProgress(submitted);
        return;
      }
      countError(errors, errorName(r));
      if (r.kind !== "Error" || r.code !== ErrorCode.QueueFull) return;
      // Backpressure is the broker working as designed: wait as it says, then resend.
      await Bun.sleep(Math.max(5, r.retryAfterMs));
      if (epochMs() - firstSendMs > spec.deadlineMs) gaveUp = true;
    }
  };

  const lane = async (): Promise<void> => {
    while (nextBatch < batches && !gaveUp && !conn.failed) {
      if (epochMs() - firstSendMs > spec.deadlineMs) {
        gaveUp = true;
        countError(errors, "deadline");
        return;
      }
      await submitBatch(nextBatch++);
    }
  };
  await Promise.all(Array.from({ length: Math.min(spec.window, batches) }, lane));
  conn.close();
  return { event: "done", role: "producer", submitted, firstSendMs, lastAckMs, errors, ids: spec.recordIds ? ids.filter((id) => id !== undefined) : [] };
}

export async function runPacedProducer(spec: PacedProducerSpec, ready: () => Promise<void>, stop: Promise<void>): Promise<JobResult<ProducerReport>> {
  const conn = await WireConn.open(spec.host, spec.port);
  const errors: ErrorCounts = {};
  const intervalMs = 1000 / spec.ratePerSec;
  const acks: Promise<void>[] = [];
  let submitted = 0;
  let lastAckMs = 0;
  let stopped = false;
  void stop.then(() => {
    stopped = true;
  });
  await ready();
  const firstSendMs = epochMs();
  for (let i = 0; i < spec.count && !conn.failed && !stopped; i++) {
    const dueMs = firstSendMs + i * intervalMs;
    const aheadMs = dueMs - epochMs();
    if (aheadMs > 0) await Bun.sleep(aheadMs);
    if (epochMs() - firstSendMs > spec.deadlineMs) {
      countError(errors, "deadline");
      break;
    }
    const payload = new Uint8Array(Math.max(TIMESTAMP_BYTES, spec.payloadBytes));
    new DataView(payload.buffer).setFloat64(0, epochMs());
    // Open loop: the next submit goes out on schedule whether or not this one was acked.
    acks.push(
      conn.send({ kind: "SubmitTask", task: { type: BENCH_TASK_TYPE, queue: spec.queue, payload, payloadIsJson: false } }).then((r) => {
        if (r.kind === "Submitted") {
          submitted++;
          lastAckMs = epochMs();
        } else countError(errors, errorName(r));
      }),
    );
  }
  await Promise.all(acks);
  conn.close();
  return { event: "done", role: "paced-producer", submitted, firstSendMs, lastAckMs, errors, ids: [] };
}
