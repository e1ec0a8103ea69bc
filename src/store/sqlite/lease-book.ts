// Leases, which live in memory only (see LeaseState): issuing, renewing and ending them, the row
// writes an end makes, and what the open group did to them so a failed commit can be undone.
// Ends run inside the store's groups; what they lead to is asked of rules/transitions.ts. The book
// never commits; it notes what to announce (announcements.ts) and calls onDue.

import { BrokerError, ErrorCode } from "../../protocol/errors.ts";
import { MAX_ERROR_BYTES, MAX_TASK_DATA_BYTES } from "../../protocol/limits.ts";
import { clipUtf8 } from "../../protocol/task-size.ts";
import { afterFailure, afterLeaseLoss, type RetryPolicy } from "../../rules/transitions.ts";
import type { Announcements } from "./announcements.ts";
import type { ReadyEntry } from "./ready-index.ts";
import { MAX_RUN_ERROR_BYTES, type ClaimRequest } from "../store.ts";
import { RUN_OUTCOMES, type RunOutcome } from "../../rules/task.ts";
import type { CompletedInfo, ExpiredLease, FailureIn, FailureOutcome, Lease, LeaseRef, Task, TaskResultIn } from "../../rules/task.ts";
import type { LeaseTokens } from "./lease-tokens.ts";
import type { LeaseState, MemoryState } from "./memory-state.ts";
import { stateCrc, stateCrcAfter } from "./row-checksum.ts";
import { readClaimRows, type Completion } from "./row-batches.ts";
import type { Statements } from "./statements.ts";
import { rowById } from "./task-reads.ts";
import { claimedTask, rowToTask, STATUS, statusName, type ClaimRow } from "./task-row.ts";

// Entries a claim pops in its first round (each later round doubles, up to MANY_ROWS a read).
const CLAIM_FIRST_ROUND = 8;

export interface LeaseBookOptions {
  stmts: Statements;
  mem: MemoryState;
  tokens: LeaseTokens;
  /** What the open group makes ready or finishes, announced once it commits; hand-backs at once. */
  notes: Announcements;
  retry: RetryPolicy;
  /** Told when a retry is due at `dueMs`. */
  onDue: (dueMs: number) => void;
}

export class LeaseBook {
  /** Leases handed out by claims waiting on the open group: void if it fails. */
  private readonly provisional = new Set<LeaseState>();
  /** Leases the open group's operations ended (complete, fail, expiry): live again if it fails. */
  private endedInGroup: LeaseState[] = [];

  constructor(private readonly o: LeaseBookOptions) {}

  /**
   * Leases on the best ready entries of the claim's queues: at most request.max, and payloads of
   * no more than request.maxDataBytes (one at least). Entries are popped in rounds and their rows read together; a round
   * starts small and doubles, so large payloads are not read far past what one reply can carry.
   */
  claimReady(request: ClaimRequest, made: LeaseState[]): Lease[] {
    const leases: Lease[] = [];
    let dataBytes = 0;
    let round = CLAIM_FIRST_ROUND;
    let replyFull = false;
    while (leases.length < request.max && !replyFull) {
      const entries: (ReadyEntry & { queue: string })[] = [];
      for (let n = Math.min(round, request.max - leases.length); entries.length < n; ) {
        const entry = this.o.mem.ready.popBest(request.queues);
        if (entry === null) break;
        entries.push(entry);
      }
      if (entries.length === 0) break;
      round *= 2;
      const read = readClaimRows(this.o.stmts, entries.map((e) => e.seq));
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!;
        const row = read.get(entry.seq);
        // A stale ready entry (its row left pending meanwhile) is skipped.
        if (row === undefined || row.status !== STATUS.pending) continue;
        // The batch must fit the caller's budget: what does not fit stays first in line, in order.
        dataBytes += row.payload.byteLength;
        if (leases.length > 0 && dataBytes > request.maxDataBytes) {
          for (let j = entries.length - 1; j >= i; j--) this.o.mem.ready.unpop(entries[j]!);
          replyFull = true;
          break;
        }
        leases.push(this.issue(row, request, made));
      }
    }
    return leases;
  }

  /** A new lease on a pending row for the claim's worker, in memory (and in `made`). */
  private issue(row: ClaimRow, request: ClaimRequest, made: LeaseState[]): Lease {
    let serial = this.o.tokens.issue();
    // A lease still live 2^32 leases later keeps its serial: the new one takes the next.
    while (this.o.mem.leasesBySerial.has(serial)) serial = this.o.tokens.issue();
    const token = this.o.tokens.tokenOf(serial);
    const expiresAtMs = request.nowMs + row.lease_ms;
    const task = claimedTask(row, request.workerId, request.nowMs, expiresAtMs);
    const lease: LeaseState = {
      seq: row.seq, id: task.id, serial, token, workerId: request.workerId, expiresAtMs, queue: row.queue, priority: row.priority,
      leaseMs: row.lease_ms, startedAtMs: request.nowMs, payloadBytes: row.payload.byteLength,
      runAtMs: row.run_at, attempts: row.attempts, maxRetries: row.max_retries, flags: row.flags,
    };
    this.o.mem.addLease(lease);
    made.push(lease);
    return { task, token, expiresAtMs };
  }

  /** Until the open group commits these leases are provisional: a failed commit drops them. */
  markProvisional(made: readonly LeaseState[]): void {
    for (const lease of made) this.provisional.add(lease);
  }

  /** Renewal is a memory write: leases are not in the file. Null for a lease that is not current. */
  renew(refs: readonly LeaseRef[], nowMs: number): (number | null)[] {
    return refs.map((ref) => {
      const lease = this.current(ref);
      if (lease === undefined) return null;
      lease.expiresAtMs = nowMs + lease.leaseMs;
      this.o.mem.leaseHeap.push(lease.expiresAtMs, lease.seq);
      return lease.expiresAtMs;
    });
  }

  /** The live lease `ref` names, or NotFound / LeaseLost. Reads only, so it may throw inside a group op. */
  /** The live lease `ref` names, if any. */
  current(ref: LeaseRef): LeaseState | undefined {
    return this.o.mem.leaseOf(ref.id, this.o.tokens.serialOf(ref.token));
  }

  held(ref: LeaseRef): LeaseState {
    const lease = this.current(ref);
    if (lease !== undefined) return lease;
    const row = rowById(this.o.stmts, ref.id);
    const leased = this.o.mem.leasesBySeq.has(row.seq);
    throw new BrokerError(
      ErrorCode.LeaseLost,
      `lease token ${ref.token} on task ${ref.id} is not current (task is ${statusName(row.status)}${leased ? `, leased under a newer token` : ""}); the task may be running elsewhere`,
      { field: "token" },
    );
  }

  heldBy(workerId: string): LeaseState[] {
    return [...this.o.mem.leasesBySerial.values()].filter((l) => l.workerId === workerId);
  }

  /**
   * Ends a completed lease inside the open group and queues its row's write in `completions`
   * (the caller writes them with writeCompletions before the group commits).
   */
  complete(ref: LeaseRef, result: TaskResultIn, completions: Completion[]): CompletedInfo {
    const lease = this.held(ref);
    const resultBytes = result.result?.byteLength ?? 0;
    // Refused before anything changes: the worker still holds the lease and may report a failure.
    if (lease.payloadBytes + resultBytes > MAX_TASK_DATA_BYTES) {
      throw new BrokerError(
        ErrorCode.InvalidField,
        `result: ${resultBytes} bytes beside the task's ${lease.payloadBytes}-byte payload is over the ${MAX_TASK_DATA_BYTES} bytes one task may hold (payload + result); report a smaller result or a failure`,
        { field: "result" },
      );
    }
    this.end(lease);
    completions.push({ lease, result });
    this.o.mem.finished.add(lease.queue, "completed", 1);
    this.o.notes.finished({ id: lease.id, queue: lease.queue, status: "completed" });
    return { queue: lease.queue, startedAtMs: lease.startedAtMs };
  }

  /** A failed attempt inside the open group: what afterFailure() says, a retry at a time or dead. */
  fail(ref: LeaseRef, failure: FailureIn, nowMs: number): FailureOutcome {
    const { stmts, mem } = this.o;
    const lease = this.held(ref);
    const { attempts, retryAtMs, status: next } = afterFailure(lease, failure.unrecoverable, nowMs, this.o.retry);
    const dead = next === "dead";
    // Cut to what fits beside the payload, so the task still fits one reply (MAX_TASK_DATA_BYTES).
    const error = clipUtf8(failure.error, Math.min(MAX_ERROR_BYTES, MAX_TASK_DATA_BYTES - lease.payloadBytes));
    const status = dead ? STATUS.dead : STATUS.failed;
    const finishedAtMs = dead ? nowMs : null;
    const crc = stateCrc({
      flags: lease.flags, status, run_at: retryAtMs, attempts, worker_id: lease.workerId, result: null,
      error, updated_at: nowMs, started_at: lease.startedAtMs, finished_at: finishedAtMs,
    });
    stmts.fail.run(status, attempts, error, retryAtMs, finishedAtMs, nowMs, lease.seq, lease.workerId, lease.startedAtMs, crc);
    recordRun(stmts, lease, nowMs, dead ? "dead" : "failed", error);
    this.end(lease);
    if (retryAtMs !== null) {
      mem.addScheduled(lease.queue, lease.seq, retryAtMs, true);
      this.o.onDue(retryAtMs);
    } else {
      mem.finished.add(lease.queue, "dead", 1);
      this.o.notes.finished({ id: lease.id, queue: lease.queue, status: "dead" });
    }
    return { status: next, queue: lease.queue, retryAtMs, attempts };
  }

  /**
   * A lease ends without a result: what afterLeaseLoss() says, pending now or dead. Inside a group
   * op. `outcome` says why, for the run history: the lease ran out, or its worker was lost.
   */
  expire(lease: LeaseState, reason: string, nowMs: number, outcome: "lease_expired" | "worker_lost" = "lease_expired"): "pending" | "dead" {
    this.end(lease);
    const { attempts, status: next } = afterLeaseLoss(lease);
    const dead = next === "dead";
    const status = dead ? STATUS.dead : STATUS.pending;
    const finishedAtMs = dead ? nowMs : null;
    const crc = stateCrc({
      flags: lease.flags, status, run_at: lease.runAtMs, attempts, worker_id: lease.workerId, result: null,
      error: reason, updated_at: nowMs, started_at: lease.startedAtMs, finished_at: finishedAtMs,
    });
    this.o.stmts.expire.run(attempts, status, finishedAtMs, reason, nowMs, lease.workerId, lease.startedAtMs, crc, lease.seq);
    recordRun(this.o.stmts, lease, nowMs, outcome, reason);
    if (dead) {
      this.o.mem.finished.add(lease.queue, "dead", 1);
      this.o.notes.finished({ id: lease.id, queue: lease.queue, status: "dead" });
      return "dead";
    }
    this.o.mem.ready.push(lease.queue, lease.seq, lease.priority, nowMs);
    this.o.notes.ready(lease.queue);
    return "pending";
  }

  /** A running task cancelled inside the open group: its lease ends (not an attempt) and the row is cancelled. */
  cancel(lease: LeaseState, nowMs: number): Task {
    this.end(lease);
    // The row (pending in the file) is read and checked: its error and result are not the lease's to know.
    const row = this.o.stmts.bySeq.get(lease.seq);
    if (row === null) throw new BrokerError(ErrorCode.NotFound, `no task with id ${JSON.stringify(lease.id)}`, { field: "id" });
    const crc = stateCrcAfter(row, {
      status: STATUS.cancelled, finished_at: nowMs, updated_at: nowMs, worker_id: lease.workerId, started_at: lease.startedAtMs,
    });
    recordRun(this.o.stmts, lease, nowMs, "cancelled", null);
    this.o.mem.finished.add(lease.queue, "cancelled", 1);
    this.o.notes.finished({ id: lease.id, queue: lease.queue, status: "cancelled", endedLease: { token: lease.token, workerId: lease.workerId } });
    return rowToTask(this.o.stmts.cancelLeased.get(nowMs, lease.seq, lease.workerId, lease.startedAtMs, crc)!);
  }

  /** Expires the leases due by `nowMs`, working through at most `maxSteps` heap entries; returns them. */
  expireDue(nowMs: number, maxSteps: number): ExpiredLease[] {
    const heap = this.o.mem.leaseHeap;
    const expired: ExpiredLease[] = [];
    for (let step = 0; step < maxSteps && (heap.peekDueMs() ?? Number.POSITIVE_INFINITY) <= nowMs; step++) {
      const lease = this.o.mem.leasesBySeq.get(heap.pop());
      // A renewed lease left its old expiry in the heap; an ended one left all of them.
      if (lease === undefined || lease.expiresAtMs > nowMs) continue;
      const status = this.expire(lease, `lease expired after ${lease.leaseMs} ms without a result (worker ${lease.workerId})`, nowMs);
      expired.push({ id: lease.id, workerId: lease.workerId, leaseMs: lease.leaseMs, status });
    }
    return expired;
  }

  /** A lease ends without counting an attempt: the row is pending in the file already, so only memory changes. */
  handBack(lease: LeaseState, nowMs: number): void {
    this.o.mem.removeLease(lease);
    this.o.mem.ready.push(lease.queue, lease.seq, lease.priority, nowMs);
    this.o.notes.handedBackTo(lease.queue);
  }

  /** The open group committed: what it did to leases stands. */
  committed(): void {
    this.provisional.clear();
    this.endedInGroup = [];
  }

  /**
   * The open group failed: the leases to keep once memory is reloaded from the file, that is those
   * live before the group and those it ended, but none it handed out.
   */
  survivorsOfFailure(): LeaseState[] {
    const leases = [...this.o.mem.leasesBySerial.values(), ...this.endedInGroup].filter((l) => !this.provisional.has(l));
    this.provisional.clear();
    this.endedInGroup = [];
    return leases;
  }

  /** A group op ends a lease: gone from memory now, back if the group fails. */
  private end(lease: LeaseState): void {
    this.o.mem.removeLease(lease);
    this.endedInGroup.push(lease);
  }
}

/**
 * One run that ended other than completed, in the open group (a completed run is read from its
 * row): the failure paths only, so the completion hot path writes nothing more.
 */
function recordRun(stmts: Statements, lease: LeaseState, endedAtMs: number, outcome: RunOutcome, error: string | null): void {
  const kept = error === null ? null : clipUtf8(error, MAX_RUN_ERROR_BYTES);
  stmts.insertRun.run(lease.seq, lease.workerId, lease.startedAtMs, endedAtMs, RUN_OUTCOMES.indexOf(outcome), kept);
}
