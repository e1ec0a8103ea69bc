// Claims: one statement each, inside the group's transaction. The best pending rows of the asked
// queues are locked with FOR UPDATE SKIP LOCKED (so two brokers never take the same row, and
// neither waits for the other), cut to the reply's byte budget, and leased: in_progress, a new
// serial from the cluster-wide sequence, the expiry, the worker and this broker's node id.

import type { SQL } from "bun";
import type { Lease } from "../../rules/task.ts";
import type { TokenCipher } from "../token-cipher.ts";
import type { ClaimRequest } from "../store.ts";
import type { BatchKind, TxNotes } from "./pg-group.ts";
import { rowToTask, T_TASK_COLUMNS, type TaskRow } from "./task-rows.ts";

/** Serials are kept modulo the token space: the wire carries a u32. */
export const TOKEN_SPACE = 4294967296;

export function claimBatch(nodeId: string, cipher: () => TokenCipher): BatchKind<ClaimRequest, Lease[]> {
  return {
    name: "claim",
    async run(tx: SQL, notes: TxNotes, items: readonly ClaimRequest[]): Promise<Lease[][]> {
      const out: Lease[][] = [];
      await walkReadyIndex(tx);
      // One after the other: a later claim of the group must not be handed what an earlier one took.
      for (const request of items) out.push(await claimOne(tx, notes, request, nodeId, cipher()));
      return out;
    },
  };
}

/**
 * For the rest of the transaction (claims run last in it): a claim takes the first rows of the
 * ready index in its order, never every pending row fetched and sorted. Without statistics (a new
 * table, before autovacuum analyses it) or with stale ones the planner guesses a handful of pending
 * rows and, once the index is large, chose a bitmap scan and a sort of all of them: 60-99 ms per
 * claim at 60,000 pending, and a drain of 100,000 cost PostgreSQL 17-21 s of CPU instead of 7
 * (test/e2e/postgres-store.test.ts counts the index entries a drain reads).
 */
async function walkReadyIndex(tx: SQL): Promise<void> {
  await tx`SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true)`;
}

async function claimOne(tx: SQL, notes: TxNotes, request: ClaimRequest, nodeId: string, cipher: TokenCipher): Promise<Lease[]> {
  const queues = [...new Set(request.queues)];
  if (request.max <= 0 || queues.length === 0) return [];
  const now = request.nowMs;
  // Up to `max` candidates per queue, locked; the best `max` of them that fit the byte budget
  // (always the first) are leased, the others stay pending and first in line.
  const rows = (await tx`
    WITH cand AS (
      SELECT c.id, c.priority, c.ready_seq, c.bytes
      FROM unnest(${queues}::text[]) AS q(name),
      LATERAL (SELECT id, priority, ready_seq, octet_length(payload) AS bytes FROM tasks
               WHERE status = 'pending' AND queue = q.name
               ORDER BY priority DESC, ready_seq LIMIT ${request.max} FOR UPDATE SKIP LOCKED) AS c
    ), ranked AS (
      SELECT id, row_number() OVER w AS rn, sum(bytes) OVER w AS total
      FROM cand WINDOW w AS (ORDER BY priority DESC, ready_seq ROWS UNBOUNDED PRECEDING)
    )
    UPDATE tasks t SET status = 'in_progress', worker_id = ${request.workerId}, started_at = ${now}, updated_at = ${now},
      lease_serial = nextval('lease_serial') % ${TOKEN_SPACE}, lease_expires_at = ${now} + t.lease_ms, lease_node = ${nodeId}
    FROM ranked
    WHERE t.id = ranked.id AND ranked.rn <= ${request.max} AND (ranked.rn = 1 OR ranked.total <= ${request.maxDataBytes})
    RETURNING ${tx.unsafe(T_TASK_COLUMNS)}, t.lease_serial, ranked.rn`) as (TaskRow & { lease_serial: string; rn: string })[];
  rows.sort((a, b) => Number(a.rn) - Number(b.rn));
  const leases = rows.map((row): Lease => {
    const task = rowToTask(row);
    return { task, token: cipher.token(Number(row.lease_serial)), expiresAtMs: task.leaseExpiresAtMs! };
  });
  if (leases.length > 0) {
    notes.pendingDelta -= leases.length;
    notes.due(Math.min(...leases.map((l) => l.expiresAtMs)));
  }
  return leases;
}
