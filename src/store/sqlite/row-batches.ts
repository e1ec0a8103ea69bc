// Reads and writes of many task rows in as few statement runs as possible: a statement run costs
// ~2.5 us in bun:sqlite whatever it does, so claims read their rows, and a TaskResultBatch writes
// its completions, up to MANY_ROWS per run. Statement sizes are powers of two, padded with seq 0
// (no row has it), so a handful of prepared texts serve every count.

import type { TaskResultIn } from "../../rules/task.ts";
import type { LeaseState } from "./memory-state.ts";
import { MANY_ROWS, manyRowsSize, type Statements } from "./statements.ts";
import { stateCrc } from "./row-checksum.ts";
import { FLAG, STATUS, type ClaimRow } from "./task-row.ts";

/**
 * The rows of `seqs`, by seq; a seq with no row, or whose row fails its checksums, is absent.
 * Consecutive seqs (one queue and priority claimed in FIFO order, the usual case) are read as one
 * range: one b-tree descent instead of one per row. 16-row reads of 100-byte tasks, CPU per row,
 * medians of 11 interleaved rounds, three sets: 2.11 / 2.02 / 2.23 us by IN, 1.66 / 1.62 / 2.06 us
 * by range.
 */
export function readClaimRows(stmts: Statements, seqs: readonly number[]): Map<number, ClaimRow> {
  const rows = new Map<number, ClaimRow>();
  for (let at = 0; at < seqs.length; at += MANY_ROWS) {
    const part = seqs.slice(at, at + MANY_ROWS);
    let min = part[0]!;
    let max = min;
    for (const seq of part) {
      if (seq < min) min = seq;
      else if (seq > max) max = seq;
    }
    // Exactly as many seqs as the range holds: nothing else is read (a seq named twice makes it
    // read a neighbour, which nobody looks up).
    if (max - min + 1 === part.length) {
      for (const row of stmts.claimRange.all(min, max)) rows.set(row.seq, row);
      continue;
    }
    const size = manyRowsSize(part.length);
    while (part.length < size) part.push(0);
    for (const row of stmts.claimRows(size).all(...part)) rows.set(row.seq, row);
  }
  return rows;
}

/** A completion to write: its lease, ended in this group, and the worker's result. */
export interface Completion {
  lease: LeaseState;
  result: TaskResultIn;
}

/** Writes each completion (distinct leases); one alone through Statements.complete. */
export function writeCompletions(stmts: Statements, completions: readonly Completion[], nowMs: number): void {
  for (let at = 0; at < completions.length; at += MANY_ROWS) {
    const count = Math.min(MANY_ROWS, completions.length - at);
    const size = manyRowsSize(count);
    const args: unknown[] = [];
    for (let i = at; i < at + count; i++) {
      const { lease, result } = completions[i]!;
      const flags = (lease.flags & ~FLAG.resultIsJson) | (result.resultIsJson ? FLAG.resultIsJson : 0);
      const crc = stateCrc({
        flags, status: STATUS.completed, run_at: lease.runAtMs, attempts: lease.attempts,
        worker_id: lease.workerId, result: result.result, error: null, updated_at: nowMs, started_at: lease.startedAtMs, finished_at: nowMs,
      });
      args.push(lease.seq, result.result, flags, nowMs, lease.workerId, lease.startedAtMs, crc);
    }
    for (let i = count; i < size; i++) args.push(0, null, 0, 0, null, 0, 0);
    (size === 1 ? stmts.complete : stmts.completeRows(size)).run(...(args as never[]));
  }
}
