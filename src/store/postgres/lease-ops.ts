// The lease operations besides claims and reports: renewals (batched: one UPDATE per group),
// hand-backs, a worker's leases taken back, and the scheduler's tick (promotions and expiries,
// rows another broker is working on skipped, so every broker may tick at once).

import type { SQL } from "bun";
import type { ExpiredLease, LeaseRef } from "../../rules/task.ts";
import type { TokenCipher } from "../token-cipher.ts";
import type { TickOutcome } from "../store.ts";
import { endLeases, LEASE_ROW_COLUMNS, type LeaseRow } from "./lease-ends.ts";
import { refKey, toSerialRef, whyNot, type SerialRef } from "./lease-refs.ts";
import type { BatchKind, TxNotes } from "./pg-group.ts";

/** Rows one tick works through per kind: bounds one transaction; nextDueMs then says "now" and the scheduler comes back. */
export const MAX_TICK_ROWS = 2000;

export interface RenewCall {
  refs: readonly LeaseRef[];
  nowMs: number;
}

export function renewBatch(cipher: () => TokenCipher): BatchKind<RenewCall, (number | null)[]> {
  return {
    name: "renew",
    async run(tx: SQL, _notes: TxNotes, calls: readonly RenewCall[]): Promise<(number | null)[][]> {
      const refs: { ref: SerialRef; nowMs: number }[] = [];
      for (const call of calls) {
        for (const r of call.refs) {
          const ref = toSerialRef(r, cipher());
          if (ref !== null) refs.push({ ref, nowMs: call.nowMs });
        }
      }
      const rows =
        refs.length === 0
          ? []
          : ((await tx`
              UPDATE tasks t SET lease_expires_at = u.now + t.lease_ms
              FROM unnest(${refs.map((r) => r.ref.id)}::uuid[], ${refs.map((r) => r.ref.serial)}::bigint[], ${refs.map((r) => r.nowMs)}::bigint[])
                   AS u(id, serial, now)
              WHERE t.id = u.id AND t.lease_serial = u.serial
              RETURNING t.id, t.lease_serial, t.lease_expires_at`) as { id: string; lease_serial: string; lease_expires_at: string }[]);
      const expiry = new Map(rows.map((r) => [`${r.id}/${cipher().token(Number(r.lease_serial))}`, Number(r.lease_expires_at)]));
      return calls.map((call) => call.refs.map((r) => expiry.get(refKey(r)) ?? null));
    },
  };
}

/** Hands leases back (not an attempt), all or none: a stale or unknown one throws and changes nothing. */
export async function releaseLeases(tx: SQL, notes: TxNotes, refs: readonly LeaseRef[], nowMs: number, cipher: TokenCipher): Promise<void> {
  const unique = new Map<string, LeaseRef>();
  for (const ref of refs) unique.set(refKey(ref), ref);
  const serialRefs = [...unique.values()].map((r) => toSerialRef(r, cipher));
  const valid = serialRefs.filter((r): r is SerialRef => r !== null);
  const rows =
    valid.length === 0
      ? []
      : ((await tx`
          SELECT ${tx.unsafe(LEASE_ROW_COLUMNS.split(", ").map((c) => `t.${c}`).join(", "))} FROM tasks t
          JOIN unnest(${valid.map((r) => r.id)}::uuid[], ${valid.map((r) => r.serial)}::bigint[]) AS u(id, serial)
            ON t.id = u.id AND t.lease_serial = u.serial
          FOR UPDATE OF t`) as LeaseRow[]);
  if (rows.length < unique.size) {
    const held = new Set(rows.map((r) => r.id));
    const stale = [...unique.values()].filter((r) => !held.has(r.id.toLowerCase()));
    const why = await whyNot(tx, stale);
    throw why.get(refKey(stale[0]!))!;
  }
  await endLeases(tx, notes, rows, { countAttempt: false }, nowMs);
}

/** Every lease `workerId` holds ends: counted as an attempt when it died, handed back when it left. */
export async function reclaimWorkerLeases(tx: SQL, notes: TxNotes, workerId: string, countAttempt: boolean, nowMs: number): Promise<string[]> {
  const rows = (await tx`
    SELECT ${tx.unsafe(LEASE_ROW_COLUMNS)} FROM tasks WHERE status = 'in_progress' AND worker_id = ${workerId} FOR UPDATE`) as LeaseRow[];
  const reason = `worker ${workerId} was lost while running the task`;
  await endLeases(tx, notes, rows, countAttempt ? { countAttempt: true, outcome: "worker_lost", reason: () => reason } : { countAttempt: false }, nowMs);
  return rows.map((r) => r.id);
}

/** When the next promotion or lease expiry is due anywhere in the cluster; null when nothing waits. */
export async function nextDueMs(sql: SQL): Promise<number | null> {
  const [row] = (await sql`
    SELECT LEAST((SELECT min(run_at) FROM tasks WHERE status IN ('scheduled', 'failed')),
                 (SELECT min(lease_expires_at) FROM tasks WHERE status = 'in_progress')) AS due`) as { due: string | null }[];
  return row?.due === null || row?.due === undefined ? null : Number(row.due);
}

/** One tick's writes: due scheduled and failed tasks become pending, due leases end as afterLeaseLoss() says. */
export async function tickWrites(tx: SQL, notes: TxNotes, nowMs: number): Promise<Omit<TickOutcome, "nextDueMs">> {
  // In run_at order, so tasks due together join their line in the order they were due.
  const promoted = (await tx`
    WITH due AS (
      SELECT id FROM tasks WHERE status IN ('scheduled', 'failed') AND run_at <= ${nowMs}
      ORDER BY run_at, id LIMIT ${MAX_TICK_ROWS} FOR UPDATE SKIP LOCKED
    ), lined AS (SELECT id, nextval('ready_seq') AS seq FROM (SELECT id FROM due ORDER BY id) d)
    UPDATE tasks t SET status = 'pending', ready_seq = lined.seq, ready_at = ${nowMs}, updated_at = ${nowMs}
    FROM lined WHERE t.id = lined.id
    RETURNING t.queue`) as { queue: string }[];
  for (const row of promoted) notes.madeReady(row.queue);
  const due = (await tx`
    SELECT ${tx.unsafe(LEASE_ROW_COLUMNS)} FROM tasks WHERE status = 'in_progress' AND lease_expires_at <= ${nowMs}
    ORDER BY lease_expires_at LIMIT ${MAX_TICK_ROWS} FOR UPDATE SKIP LOCKED`) as LeaseRow[];
  const ended = await endLeases(
    tx,
    notes,
    due,
    { countAttempt: true, outcome: "lease_expired", reason: (row) => `lease expired after ${Number(row.lease_ms)} ms without a result (worker ${row.worker_id})` },
    nowMs,
  );
  const expiredLeases = ended.map((e): ExpiredLease => ({ id: e.row.id, workerId: e.row.worker_id, leaseMs: Number(e.row.lease_ms), status: e.status }));
  return { promoted: promoted.length, expired: expiredLeases.length, expiredLeases };
}
