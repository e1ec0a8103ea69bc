// The results of one group's reports: every completion in one UPDATE, every failure in one read
// (what rules/transitions.ts needs: attempts, retries) and one UPDATE, each row found by id and
// lease serial. Items that matched nothing are explained by one more read.

import type { SQL } from "bun";
import { BrokerError, ErrorCode } from "../../protocol/errors.ts";
import { MAX_ERROR_BYTES, MAX_TASK_DATA_BYTES } from "../../protocol/limits.ts";
import { clipUtf8 } from "../../protocol/task-size.ts";
import { afterFailure, type RetryPolicy } from "../../rules/transitions.ts";
import type { TokenCipher } from "../token-cipher.ts";
import type { ReportItem, ReportItemResult } from "../store.ts";
import { notFound, refKey, toSerialRef, whyNot, type SerialRef } from "./lease-refs.ts";
import type { BatchKind, TxNotes } from "./pg-group.ts";
import { recordRuns, type RunEnd } from "./run-history.ts";

export interface ReportCall {
  items: readonly ReportItem[];
  nowMs: number;
}

/** One item to carry out: the first naming its lease in the group (a later one finds the lease ended). */
interface Job {
  ref: SerialRef;
  item: ReportItem;
  nowMs: number;
  slots: { call: number; index: number }[];
}

export function reportBatch(retry: RetryPolicy, cipher: () => TokenCipher): BatchKind<ReportCall, ReportItemResult[]> {
  return {
    name: "report",
    async run(tx: SQL, notes: TxNotes, calls: readonly ReportCall[]): Promise<ReportItemResult[][]> {
      const out: ReportItemResult[][] = calls.map((c) => new Array<ReportItemResult>(c.items.length));
      const jobs = new Map<string, Job>();
      calls.forEach((call, c) =>
        call.items.forEach((item, i) => {
          const ref = toSerialRef(item.lease, cipher());
          if (ref === null) {
            out[c]![i] = { ok: false, error: notFound(item.lease.id) };
            return;
          }
          const key = refKey(ref);
          const job = jobs.get(key);
          if (job === undefined) jobs.set(key, { ref, item, nowMs: call.nowMs, slots: [{ call: c, index: i }] });
          else job.slots.push({ call: c, index: i });
        }),
      );
      const all = [...jobs.values()];
      const done = new Map<Job, ReportItemResult>();
      await completeAll(tx, notes, all.filter((j) => "completed" in j.item), done);
      await failAll(tx, notes, all.filter((j) => "failed" in j.item), done, retry);
      const missing = all.filter((j) => !done.has(j));
      if (missing.length > 0) {
        const why = await whyNot(tx, missing.map((j) => j.ref));
        for (const j of missing) done.set(j, { ok: false, error: why.get(refKey(j.ref))! });
      }
      for (const job of all) {
        const result = done.get(job)!;
        job.slots.forEach((slot, n) => {
          // The same lease named again in the group: the first item ended it.
          out[slot.call]![slot.index] = n === 0 || !result.ok ? result : { ok: false, error: endedAlready(job.ref) };
        });
      }
      return out;
    },
  };
}

async function completeAll(tx: SQL, notes: TxNotes, jobs: Job[], done: Map<Job, ReportItemResult>): Promise<void> {
  if (jobs.length === 0) return;
  const results = jobs.map((j) => ("completed" in j.item ? j.item.completed : null)!);
  const rows = (await tx`
    UPDATE tasks t SET status = 'completed', result = u.result, result_is_json = u.result_is_json, finished_at = u.now,
      updated_at = u.now, lease_serial = NULL, lease_expires_at = NULL
    FROM unnest(${jobs.map((j) => j.ref.id)}::uuid[], ${jobs.map((j) => j.ref.serial)}::bigint[],
                ${results.map((r) => r.result)}::bytea[], ${results.map((r) => r.resultIsJson)}::boolean[],
                ${jobs.map((j) => j.nowMs)}::bigint[]) AS u(id, serial, result, result_is_json, now)
    WHERE t.id = u.id AND t.lease_serial = u.serial
      AND octet_length(t.payload) + coalesce(octet_length(u.result), 0) <= ${MAX_TASK_DATA_BYTES}
    RETURNING t.id, t.queue, t.started_at`) as { id: string; queue: string; started_at: string }[];
  const byId = new Map(rows.map((r) => [r.id, r]));
  const refused: Job[] = [];
  for (const job of jobs) {
    const row = byId.get(job.ref.id);
    if (row === undefined) {
      refused.push(job);
      continue;
    }
    done.set(job, { ok: true, completed: { queue: row.queue, startedAtMs: Number(row.started_at) } });
    notes.ends.push({ id: row.id, queue: row.queue, status: "completed" });
  }
  if (refused.length > 0) await explainTooBig(tx, refused, done);
}

/** A completion that matched its lease but not the size rule: InvalidField, the lease still held. */
async function explainTooBig(tx: SQL, jobs: Job[], done: Map<Job, ReportItemResult>): Promise<void> {
  const rows = (await tx`
    SELECT t.id, octet_length(t.payload) AS bytes FROM tasks t
    JOIN unnest(${jobs.map((j) => j.ref.id)}::uuid[], ${jobs.map((j) => j.ref.serial)}::bigint[]) AS u(id, serial)
      ON t.id = u.id AND t.lease_serial = u.serial`) as { id: string; bytes: number }[];
  const bytes = new Map(rows.map((r) => [r.id, Number(r.bytes)]));
  for (const job of jobs) {
    const payloadBytes = bytes.get(job.ref.id);
    if (payloadBytes === undefined || !("completed" in job.item)) continue;
    const resultBytes = job.item.completed.result?.byteLength ?? 0;
    done.set(job, {
      ok: false,
      error: new BrokerError(
        ErrorCode.InvalidField,
        `result: ${resultBytes} bytes beside the task's ${payloadBytes}-byte payload is over the ${MAX_TASK_DATA_BYTES} bytes one task may hold (payload + result); report a smaller result or a failure`,
        { field: "result" },
      ),
    });
  }
}

async function failAll(tx: SQL, notes: TxNotes, jobs: Job[], done: Map<Job, ReportItemResult>, retry: RetryPolicy): Promise<void> {
  if (jobs.length === 0) return;
  const rows = (await tx`
    SELECT t.id, t.queue, t.attempts, t.max_retries, octet_length(t.payload) AS bytes, t.worker_id, t.started_at FROM tasks t
    JOIN unnest(${jobs.map((j) => j.ref.id)}::uuid[], ${jobs.map((j) => j.ref.serial)}::bigint[]) AS u(id, serial)
      ON t.id = u.id AND t.lease_serial = u.serial
    FOR UPDATE OF t`) as { id: string; queue: string; attempts: number; max_retries: number; bytes: number; worker_id: string; started_at: string }[];
  const byId = new Map(rows.map((r) => [r.id, r]));
  const writes: { id: string; status: string; attempts: number; error: string; runAt: number | null; finishedAt: number | null; now: number }[] = [];
  const runs: RunEnd[] = [];
  for (const job of jobs) {
    const row = byId.get(job.ref.id);
    if (row === undefined || !("failed" in job.item)) continue;
    const decision = afterFailure({ attempts: row.attempts, maxRetries: row.max_retries }, job.item.failed.unrecoverable, job.nowMs, retry);
    // Cut to what fits beside the payload, so the task still fits one reply (MAX_TASK_DATA_BYTES).
    const error = clipUtf8(job.item.failed.error, Math.min(MAX_ERROR_BYTES, MAX_TASK_DATA_BYTES - Number(row.bytes)));
    const dead = decision.status === "dead";
    writes.push({ id: row.id, status: decision.status, attempts: decision.attempts, error, runAt: decision.retryAtMs, finishedAt: dead ? job.nowMs : null, now: job.nowMs });
    runs.push({ taskId: row.id, workerId: row.worker_id, startedAtMs: Number(row.started_at), endedAtMs: job.nowMs, outcome: decision.status, error });
    done.set(job, { ok: true, failed: { status: decision.status, queue: row.queue, retryAtMs: decision.retryAtMs, attempts: decision.attempts } });
    if (dead) notes.ends.push({ id: row.id, queue: row.queue, status: "dead" });
    else notes.due(decision.retryAtMs!);
  }
  if (writes.length === 0) return;
  await tx`
    UPDATE tasks t SET status = u.status, attempts = u.attempts, error = u.error, run_at = u.run_at, finished_at = u.finished_at,
      updated_at = u.now, lease_serial = NULL, lease_expires_at = NULL
    FROM unnest(${writes.map((w) => w.id)}::uuid[], ${writes.map((w) => w.status)}::text[], ${writes.map((w) => w.attempts)}::integer[],
                ${writes.map((w) => w.error)}::text[], ${writes.map((w) => w.runAt)}::bigint[], ${writes.map((w) => w.finishedAt)}::bigint[],
                ${writes.map((w) => w.now)}::bigint[]) AS u(id, status, attempts, error, run_at, finished_at, now)
    WHERE t.id = u.id`;
  await recordRuns(tx, runs);
}

function endedAlready(ref: SerialRef): BrokerError {
  return new BrokerError(ErrorCode.LeaseLost, `lease token ${ref.token} on task ${ref.id} is not current (an earlier item of the same report ended it)`, {
    field: "token",
  });
}
