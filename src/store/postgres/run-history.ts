// The run history: one row per run of a task that ended other than completed (failed, dead, lease
// expired, worker lost, cancelled while running), written in one INSERT per group; a completed run
// is read from its task row, so the completion hot path writes nothing more. Deleted with its task.

import type { SQL } from "bun";
import { clipUtf8 } from "../../protocol/task-size.ts";
import type { RunOutcome, TaskRun } from "../../rules/task.ts";
import { MAX_RUN_ERROR_BYTES, MAX_RUNS_SHOWN } from "../store.ts";
import { ms, type TaskRow } from "./task-rows.ts";

export interface RunEnd {
  taskId: string;
  workerId: string;
  startedAtMs: number;
  endedAtMs: number;
  outcome: RunOutcome;
  error: string | null;
}

export async function recordRuns(tx: SQL, ends: readonly RunEnd[]): Promise<void> {
  if (ends.length === 0) return;
  await tx`
    INSERT INTO runs (task_id, worker_id, started_at, ended_at, outcome, error)
    SELECT * FROM unnest(${ends.map((e) => e.taskId)}::uuid[], ${ends.map((e) => e.workerId)}::text[], ${ends.map((e) => e.startedAtMs)}::bigint[],
                         ${ends.map((e) => e.endedAtMs)}::bigint[], ${ends.map((e) => e.outcome)}::text[],
                         ${ends.map((e) => (e.error === null ? null : clipUtf8(e.error, MAX_RUN_ERROR_BYTES)))}::text[])`;
}

/** The runs of a task, oldest first, at most the latest MAX_RUNS_SHOWN; the completed run from its row. */
export async function runsOf(sql: SQL, row: TaskRow): Promise<TaskRun[]> {
  const rows = (await sql`
    SELECT worker_id, started_at, ended_at, outcome, error FROM runs WHERE task_id = ${row.id} ORDER BY n DESC LIMIT ${MAX_RUNS_SHOWN}`) as {
    worker_id: string;
    started_at: string;
    ended_at: string;
    outcome: RunOutcome;
    error: string | null;
  }[];
  const runs: TaskRun[] = rows
    .reverse()
    .map((r) => ({ workerId: r.worker_id, startedAtMs: Number(r.started_at), endedAtMs: Number(r.ended_at), outcome: r.outcome, error: r.error }));
  const started = ms(row.started_at);
  const finished = ms(row.finished_at);
  if (row.status === "completed" && row.worker_id !== null && started !== null && finished !== null) {
    runs.push({ workerId: row.worker_id, startedAtMs: started, endedAtMs: finished, outcome: "completed", error: null });
  }
  return runs.slice(-MAX_RUNS_SHOWN);
}
