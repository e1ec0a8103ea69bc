// The raw worker agent (--raw): `lanes` claim loops, each on its own connection, claiming up to
// `batch` tasks with a blocking claim, running a no-op handler and reporting the tasks of each
// claim completed in one TaskResultBatch, without waiting. No user runs this; it shows what the
// broker can do. Counts completions by acknowledged item; knows no workload.

import { errorSpec } from "../protocol/errors.ts";
import { MAX_RESULT_BATCH } from "../protocol/limits.ts";
import type { ClaimedTask } from "../protocol/messages.ts";
import { countError, epochMs, type ErrorCounts, type JobResult, type WorkerReport, type WorkerSpec } from "./agent-protocol.ts";
import { errorName } from "./producer-agent.ts";
import { WireConn } from "./wire-conn.ts";

const EMPTY = new Uint8Array(0);
/** Pause after an error answer before claiming again, so a refusing broker is not spun on. */
const ERROR_PAUSE_MS = 5;

export async function runWorker(spec: WorkerSpec, ready: () => Promise<void>, stop: Promise<void>, onProgress: (done: number) => void): Promise<JobResult<WorkerReport>> {
  // A connection per lane: the broker bounds the replies one connection may have outstanding
  // (net/tcp-server.ts), so lanes sharing one would queue behind each other's results.
  const conns = await Promise.all(Array.from({ length: spec.lanes }, () => WireConn.open(spec.host, spec.port)));
  const errors: ErrorCounts = {};
  const ids: string[] = [];
  const latenciesMs: number[] = [];
  let completed = 0;
  let firstClaimMs = 0;
  let lastCompleteMs = 0;
  let stopped = false;
  void stop.then(() => {
    stopped = true;
  });
  await ready();
  const startMs = epochMs();

  /** One frame for the tasks of one claim; a completion counts only when its own entry is ok. */
  const complete = (conn: WireConn, tasks: readonly ClaimedTask[]): Promise<void> =>
    conn
      .send({
        kind: "TaskResultBatch",
        results: tasks.map((t) => ({ id: t.id, token: t.token, outcome: "completed" as const, resultIsJson: false, result: EMPTY, error: "" })),
      })
      .then((r) => {
        if (r.kind !== "ResultBatchOutcome") {
          for (let i = 0; i < tasks.length; i++) countError(errors, errorName(r));
          return;
        }
        const before = completed;
        r.entries.forEach((e, i) => {
          const task = tasks[i];
          if (e.entry !== "ok" || task === undefined) {
            countError(errors, e.entry === "error" ? errorSpec(e.code).name : `unexpected ${e.entry}`);
            return;
          }
          completed++;
          if (spec.recordIds) ids.push(task.id);
        });
        if (completed === before) return;
        lastCompleteMs = epochMs();
        onProgress(completed);
      });

  const lane = async (conn: WireConn): Promise<void> => {
    // Results not yet acknowledged; bounded so a slow broker pushes back on the claims.
    let unacked: Promise<void>[] = [];
    let unackedTasks = 0;
    while (!stopped && !conn.failed) {
      if (epochMs() - startMs > spec.deadlineMs) {
        countError(errors, "deadline");
        break;
      }
      if (firstClaimMs === 0) firstClaimMs = epochMs();
      const r = await conn.send({ kind: "ClaimTask", queues: [spec.queue], max: spec.batch, waitMs: spec.waitMs });
      if (r.kind !== "Claimed") {
        countError(errors, errorName(r));
        await Bun.sleep(ERROR_PAUSE_MS);
        continue;
      }
      for (const task of r.tasks) {
        // The handler: a no-op, whose start is when the task arrived here.
        if (spec.recordLatency) latenciesMs.push(epochMs() - new DataView(task.payload.buffer, task.payload.byteOffset, 8).getFloat64(0));
      }
      for (let at = 0; at < r.tasks.length; at += MAX_RESULT_BATCH) {
        const tasks = r.tasks.slice(at, at + MAX_RESULT_BATCH);
        unackedTasks += tasks.length;
        unacked.push(complete(conn, tasks));
      }
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
