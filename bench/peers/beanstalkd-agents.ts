// The bench's three agent roles against beanstalkd, for the same job specs as tq-broker's agents
// (src/bench/producer-agent.ts, worker-agent.ts): a spec's queue is a tube, a SubmitBatch of B is
// B pipelined puts in one write, a claim of up to B is a round of pipelined reserves, a
// completion is a delete. Timing is read by the caller, as for tq-broker's agents.

import { countError, epochMs, type ErrorCounts, type JobResult, type PacedProducerSpec, type ProducerReport, type ProducerSpec, type WorkerReport, type WorkerSpec } from "../../src/bench/agent-protocol.ts";
import { TIMESTAMP_BYTES } from "../../src/bench/producer-agent.ts";
import type { AgentRoles } from "../../src/bench/run-agent.ts";
import { BeanstalkConn } from "./beanstalk-conn.ts";
import { encodeDelete, encodePut, encodeReserve, type PutOptions, type Reply } from "./beanstalk-protocol.ts";

/**
 * Every bench job: one priority (FIFO, as tq-broker's bench tasks share one), ready at once, and a
 * time to run of 30 s, tq-broker's default lease: a job reserved twice would mean one expired.
 */
export const BENCH_PUT: PutOptions = { pri: 1024, delaySecs: 0, ttrSecs: 30 };
/** A reserve that answers at once: a job, or TIMED_OUT. */
const RESERVE_NOW = encodeReserve(0);

/** A lost connection is counted, as tq-broker's agents count theirs; the job then ends. */
async function orConnectionError<T>(errors: ErrorCounts, work: Promise<T>): Promise<T | null> {
  try {
    return await work;
  } catch {
    countError(errors, "connection");
    return null;
  }
}

export async function runBeanstalkProducer(spec: ProducerSpec, ready: () => Promise<void>, stop: Promise<void>, onProgress: (done: number) => void): Promise<JobResult<ProducerReport>> {
  const conn = await BeanstalkConn.open(spec.host, spec.port);
  await conn.use(spec.queue);
  // Every task of a throughput run carries the same bytes, so its put command is encoded once.
  const put = encodePut(new Uint8Array(spec.payloadBytes).fill(0x61), BENCH_PUT);
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
  await ready();
  const firstSendMs = epochMs();

  const putBatch = async (index: number): Promise<void> => {
    const from = index * spec.batch;
    const count = Math.min(spec.batch, spec.n - from);
    const replies = await orConnectionError(errors, conn.send(new Array<Uint8Array>(count).fill(put)));
    if (replies === null) return;
    lastAckMs = epochMs();
    for (let i = 0; i < replies.length; i++) {
      const r = replies[i]!;
      if (r.word !== "INSERTED") {
        countError(errors, r.word);
        continue;
      }
      submitted++;
      if (spec.recordIds) ids[from + i] = r.args[0]!;
    }
    onProgress(submitted);
  };

  // `window` batches in flight, as tq-broker's producer keeps `window` SubmitBatch frames.
  const lane = async (): Promise<void> => {
    while (nextBatch < batches && !gaveUp && !conn.failed) {
      if (epochMs() - firstSendMs > spec.deadlineMs) {
        gaveUp = true;
        countError(errors, "deadline");
        return;
      }
      await putBatch(nextBatch++);
    }
  };
  await Promise.all(Array.from({ length: Math.min(spec.window, batches) }, lane));
  conn.close();
  return { event: "done", role: "producer", submitted, firstSendMs, lastAckMs, errors, ids: spec.recordIds ? ids.filter((id) => id !== undefined) : [] };
}

export async function runBeanstalkPacedProducer(spec: PacedProducerSpec, ready: () => Promise<void>, stop: Promise<void>): Promise<JobResult<ProducerReport>> {
  const conn = await BeanstalkConn.open(spec.host, spec.port);
  await conn.use(spec.queue);
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
    // Open loop, as tq-broker's paced producer: the next put goes out on schedule regardless.
    acks.push(
      orConnectionError(errors, conn.send([encodePut(payload, BENCH_PUT)])).then((replies) => {
        const r = replies?.[0];
        if (r === undefined) return;
        if (r.word === "INSERTED") {
          submitted++;
          lastAckMs = epochMs();
        } else countError(errors, r.word);
      }),
    );
  }
  await Promise.all(acks);
  conn.close();
  return { event: "done", role: "paced-producer", submitted, firstSendMs, lastAckMs, errors, ids: [] };
}

/**
 * `lanes` connections, each in rounds: one reserve that waits up to the spec's wait (whole
 * seconds, beanstalkd's unit) then pipelined reserves that answer at once, as one claim of up to
 * `batch` waits for the first task and takes what is ready. A round that got all it asked for
 * doubles the next (up to `batch`); one that did not asks for what it got, so idle lanes (W4)
 * do not send a round of reserves per task. Deletes go in the next round's write. A stop
 * half-closes each connection: what is owed is answered, a parked reserve with TIMED_OUT.
 */
export async function runBeanstalkWorker(spec: WorkerSpec, ready: () => Promise<void>, stop: Promise<void>, onProgress: (done: number) => void): Promise<JobResult<WorkerReport>> {
  const conns = await Promise.all(Array.from({ length: spec.lanes }, () => BeanstalkConn.open(spec.host, spec.port)));
  for (const conn of conns) {
    await conn.watch(spec.queue);
    await conn.ignore("default");
  }
  const reserveWait = encodeReserve(Math.max(1, Math.ceil(spec.waitMs / 1000)));
  const errors: ErrorCounts = {};
  const ids: string[] = [];
  const latenciesMs: number[] = [];
  /** Every id reserved, to catch one handed out twice (a TTR expiry), which the ids of deletes alone would hide. */
  const reserved = new Set<number>();
  let completed = 0;
  let firstClaimMs = 0;
  let lastCompleteMs = 0;
  let stopped = false;
  void stop.then(() => {
    stopped = true;
    // A lane parked on a reserve gets TIMED_OUT at once rather than at its timeout.
    for (const conn of conns) conn.endWrites();
  });
  await ready();
  const startMs = epochMs();

  const deleteAll = (conn: BeanstalkConn, jobs: readonly Reply[]): Promise<void> =>
    orConnectionError(errors, conn.send(jobs.map((j) => encodeDelete(Number(j.args[0]))))).then((replies) => {
      if (replies === null) return;
      const before = completed;
      replies.forEach((r, i) => {
        if (r.word !== "DELETED") {
          countError(errors, r.word);
          return;
        }
        completed++;
        if (spec.recordIds) ids.push(jobs[i]!.args[0]!);
      });
      if (completed === before) return;
      lastCompleteMs = epochMs();
      onProgress(completed);
    });

  const lane = async (conn: BeanstalkConn): Promise<void> => {
    let unacked: Promise<void>[] = [];
    let unackedTasks = 0;
    let asking = 1;
    while (!stopped && !conn.failed) {
      if (epochMs() - startMs > spec.deadlineMs) {
        countError(errors, "deadline");
        break;
      }
      if (firstClaimMs === 0) firstClaimMs = epochMs();
      const round = [reserveWait];
      for (let i = 1; i < asking; i++) round.push(RESERVE_NOW);
      const replies = await orConnectionError(errors, conn.send(round));
      if (replies === null) break;
      const jobs: Reply[] = [];
      for (const r of replies) {
        if (r.word === "RESERVED") jobs.push(r);
        else if (r.word !== "TIMED_OUT") countError(errors, r.word);
      }
      for (const job of jobs) {
        // The handler: a no-op, whose start is when the job arrived here.
        if (spec.recordLatency) latenciesMs.push(epochMs() - new DataView(job.body!.buffer, job.body!.byteOffset, TIMESTAMP_BYTES).getFloat64(0));
        if (spec.recordIds) {
          const id = Number(job.args[0]);
          if (reserved.has(id)) countError(errors, "reserved twice");
          reserved.add(id);
        }
      }
      asking = jobs.length === asking ? Math.min(spec.batch, asking * 2) : Math.max(1, jobs.length);
      if (jobs.length === 0) continue;
      unacked.push(deleteAll(conn, jobs));
      unackedTasks += jobs.length;
      if (unackedTasks >= 2 * spec.batch) {
        await Promise.all(unacked);
        unacked = [];
        unackedTasks = 0;
      }
    }
    await Promise.all(unacked);
  };
  await Promise.all(conns.map(lane));
  for (const conn of conns) conn.close();
  return { event: "done", role: "worker", completed, firstClaimMs, lastCompleteMs, errors, ids, latenciesMs };
}

export const BEANSTALKD_ROLES: AgentRoles = { producer: runBeanstalkProducer, "paced-producer": runBeanstalkPacedProducer, worker: runBeanstalkWorker };
