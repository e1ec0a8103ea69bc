// Leases that end without a result: expired, their worker lost, handed back, or left by an
// earlier run of this broker. The rows are read and locked, rules/transitions.ts says what each
// becomes (pending again or dead, an attempt counted or not), and one UPDATE writes them all.

import type { SQL } from "bun";
import { afterHandBack, afterLeaseLoss } from "../../rules/transitions.ts";
import type { TxNotes } from "./pg-group.ts";
import { recordRuns } from "./run-history.ts";

/** What an ending needs of a leased row. */
export interface LeaseRow {
  id: string;
  queue: string;
  attempts: number;
  max_retries: number;
  worker_id: string;
  lease_ms: string;
  started_at: string;
}

export const LEASE_ROW_COLUMNS = "id, queue, attempts, max_retries, worker_id, lease_ms, started_at";

/**
 * How the leases end: counted as a failed attempt (the reason kept as the task's error, the run
 * recorded as lease expired or worker lost) or handed back (not a run).
 */
export type LeaseEnding =
  | { countAttempt: true; outcome: "lease_expired" | "worker_lost"; reason: (row: LeaseRow) => string }
  | { countAttempt: false };

export interface EndedLease {
  row: LeaseRow;
  status: "pending" | "dead";
}

/** Ends the leases of `rows` (already locked by the caller) as `ending` says, at `nowMs`. */
export async function endLeases(tx: SQL, notes: TxNotes, rows: readonly LeaseRow[], ending: LeaseEnding, nowMs: number): Promise<EndedLease[]> {
  if (rows.length === 0) return [];
  const decided = rows.map((row) => {
    const state = { attempts: row.attempts, maxRetries: row.max_retries };
    const next = ending.countAttempt ? afterLeaseLoss(state) : afterHandBack(state);
    return { row, ...next, error: ending.countAttempt ? ending.reason(row) : null };
  });
  await tx`
    UPDATE tasks t SET status = u.status, attempts = u.attempts, error = COALESCE(u.error, t.error),
      finished_at = CASE WHEN u.status = 'dead' THEN ${nowMs}::bigint END,
      ready_seq = CASE WHEN u.status = 'pending' THEN nextval('ready_seq') ELSE t.ready_seq END,
      ready_at = CASE WHEN u.status = 'pending' THEN ${nowMs}::bigint ELSE t.ready_at END,
      updated_at = ${nowMs}, lease_serial = NULL, lease_expires_at = NULL
    FROM unnest(${decided.map((d) => d.row.id)}::uuid[], ${decided.map((d) => d.status)}::text[],
                ${decided.map((d) => d.attempts)}::integer[], ${decided.map((d) => d.error)}::text[]) AS u(id, status, attempts, error)
    WHERE t.id = u.id`;
  for (const d of decided) {
    if (d.status === "pending") notes.madeReady(d.row.queue);
    else notes.ends.push({ id: d.row.id, queue: d.row.queue, status: "dead" });
  }
  if (ending.countAttempt) {
    await recordRuns(
      tx,
      decided.map((d) => ({
        taskId: d.row.id, workerId: d.row.worker_id, startedAtMs: Number(d.row.started_at), endedAtMs: nowMs, outcome: ending.outcome, error: d.error,
      })),
    );
  }
  return decided.map((d) => ({ row: d.row, status: d.status }));
}

/**
 * At open: the leases an earlier run of this broker (same node id) issued are void, as their
 * workers were connected to it, unless the worker has since spoken to another broker (it moved
 * and may still report). They are handed back, not counted as attempts: the broker, not the
 * task, stopped. Returns how many.
 */
export async function recoverOwnLeases(sql: SQL, nodeId: string, nowMs: number, notes: TxNotes): Promise<number> {
  return sql.begin(async (tx) => {
    const rows = (await tx`
      SELECT ${tx.unsafe(LEASE_ROW_COLUMNS)} FROM tasks t
      WHERE status = 'in_progress' AND lease_node = ${nodeId}
        AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.worker_id = t.worker_id AND w.node_id <> ${nodeId})
      FOR UPDATE SKIP LOCKED`) as LeaseRow[];
    await endLeases(tx, notes, rows, { countAttempt: false }, nowMs);
    return rows.length;
  });
}
