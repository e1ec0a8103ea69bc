// New task rows: a multi-row INSERT per INSERT_BATCH_ROWS tasks, a task whose idempotency key is
// taken answered from the row that holds it, and each new row entered in the memory indexes.
// Runs inside the store's open group; the commit and the listeners stay with the store.

import { uuidToString, uuidv7Bytes } from "../../protocol/uuid.ts";
import type { NewTask, SubmitOutcome } from "../../rules/task.ts";
import type { GroupNotes } from "./announcements.ts";
import type { MemoryState } from "./memory-state.ts";
import { fixedCrc, stateCrc } from "./row-checksum.ts";
import { INSERT_BATCH_ROWS, type Statements } from "./statements.ts";
import { FLAG, STATUS, statusName } from "./task-row.ts";

export interface InsertedTasks {
  /** One per task, in order. */
  outcomes: SubmitOutcome[];
  /** The earliest run_at of the tasks scheduled for later, or null when none was. */
  earliestRunAtMs: number | null;
}

/** Inserts `tasks`; each task made ready is noted for the commit's announcement. */
export function insertTasks(stmts: Statements, mem: MemoryState, tasks: readonly NewTask[], nowMs: number, notes: GroupNotes): InsertedTasks {
  const out: SubmitOutcome[] = [];
  // Rows waiting for one multi-row INSERT; flushed before any key lookup so that seq order is
  // batch order and a key lookup sees every earlier row.
  const chunk: NewTask[] = [];
  const args: unknown[] = [];
  let earliestRunAt = Number.POSITIVE_INFINITY;
  const flush = (): void => {
    if (chunk.length === 0) return;
    const lastSeq = Number(stmts.insertRows(chunk.length).run(...(args as never[])).lastInsertRowid);
    const firstSeq = lastSeq - chunk.length + 1;
    chunk.forEach((t, i) => {
      if (t.runAtMs !== null && t.runAtMs > nowMs) {
        mem.addScheduled(t.queue, firstSeq + i, t.runAtMs);
        earliestRunAt = Math.min(earliestRunAt, t.runAtMs);
      } else {
        mem.ready.push(t.queue, firstSeq + i, t.priority, nowMs);
        notes.ready(t.queue);
      }
    });
    chunk.length = 0;
    args.length = 0;
  };
  // A new row's state differs between the tasks of one submit only by flags, status and run_at:
  // its checksum is computed again only when one of them changes.
  let state = { flags: -1, status: -1, runAtMs: null as number | null, crc: 0 };
  for (const t of tasks) {
    if (t.idempotencyKey !== null) {
      flush();
      const existing = stmts.byKey.get(t.idempotencyKey);
      if (existing !== null) {
        // Leases live in memory: a leased task's row still says pending.
        const status = mem.leasesBySeq.get(existing.seq) !== undefined ? "in_progress" : statusName(existing.status);
        out.push({ id: uuidToString(existing.id), status, duplicate: true });
        continue;
      }
    }
    const id = uuidv7Bytes(nowMs);
    const delayed = t.runAtMs !== null && t.runAtMs > nowMs;
    const flags = t.payloadIsJson ? FLAG.payloadIsJson : 0;
    const status = delayed ? STATUS.scheduled : STATUS.pending;
    if (flags !== state.flags || status !== state.status || t.runAtMs !== state.runAtMs) {
      const crc = stateCrc({
        flags, status, run_at: t.runAtMs, attempts: 0, worker_id: null, result: null, error: null,
        updated_at: nowMs, started_at: null, finished_at: null,
      });
      state = { flags, status, runAtMs: t.runAtMs, crc };
    }
    args.push(
      id, t.type, t.queue, t.payload, flags, t.priority, status, t.runAtMs, t.maxRetries, t.leaseMs, t.idempotencyKey, nowMs, nowMs,
      fixedCrc({
        id, type: t.type, queue: t.queue, payload: t.payload, priority: t.priority, max_retries: t.maxRetries, lease_ms: t.leaseMs,
        idempotency_key: t.idempotencyKey, created_at: nowMs,
      }),
      state.crc,
    );
    chunk.push(t);
    out.push({ id: uuidToString(id), status: delayed ? "scheduled" : "pending", duplicate: false });
    if (chunk.length === INSERT_BATCH_ROWS || t.idempotencyKey !== null) flush();
  }
  flush();
  return { outcomes: out, earliestRunAtMs: earliestRunAt === Number.POSITIVE_INFINITY ? null : earliestRunAt };
}
