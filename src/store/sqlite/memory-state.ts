// What the SQLite store keeps in memory so that claims, promotions and counts never scan the table:
// the ready index, the run_at and lease-expiry heaps, the live leases and per-queue counts.
// Holds row handles (seq) and lease bookkeeping only — never payloads. Runs no SQL.

import { ReadyIndex } from "./ready-index.ts";
import { SlotMap } from "./slot-map.ts";
import { TimerHeap } from "./timer-heap.ts";
import type { QueueCounts, TaskCounts } from "../../rules/task.ts";

/**
 * A live lease. Leases live only here, never in the database: a restart voids every lease anyway
 * (its worker's connection is gone with the process), so writing them would buy nothing and cost
 * a row update, two index moves and a commit wait on every claim.
 */
export interface LeaseState {
  seq: number;
  id: string;
  /** The lease's serial (lease-tokens.ts); the worker knows it only as `token`. */
  serial: number;
  token: number;
  workerId: string;
  expiresAtMs: number;
  queue: string;
  priority: number;
  leaseMs: number;
  startedAtMs: number;
  /** The task's payload size: a result or error must fit beside it (MAX_TASK_DATA_BYTES). */
  payloadBytes: number;
  /**
   * The row's run_at, attempts, max_retries and flags as the claim read them (checked against the
   * row's checksums): a lease's end writes the row's new state_crc from these, not from the file.
   */
  runAtMs: number | null;
  attempts: number;
  maxRetries: number;
  flags: number;
}

/** Lease-heap entries beyond twice the live leases before the stale ones are dropped. */
const STALE_LEASE_ENTRIES = 4096;

export class MemoryState {
  readonly ready = new ReadyIndex();
  /** (run_at, seq) of scheduled and failed tasks; stale entries are filtered by the promote UPDATE. */
  readonly runAtHeap = new TimerHeap();
  /** (expiresAtMs, seq) of leases; an entry is stale when the lease is gone or was renewed. */
  readonly leaseHeap = new TimerHeap();
  /**
   * Live leases by serial: every result, renewal and hand-back names its lease by (id, token), a
   * token stands for one serial (lease-tokens.ts), so the serial finds it and the id confirms it.
   * SlotMaps, not Maps: a claim's serials are consecutive and its seqs nearly so (see slot-map.ts).
   */
  readonly leasesBySerial = new SlotMap<LeaseState>((l) => l.serial);
  readonly leasesBySeq = new SlotMap<LeaseState>((l) => l.seq);
  private readonly scheduledByQueue = new Map<string, number>();
  private readonly retryingByQueue = new Map<string, number>();
  private readonly inProgressByQueue = new Map<string, number>();
  /** Finished rows per queue and status: what the file holds, kept in step by every change (FinishedCounts). */
  readonly finished = new FinishedCounts();
  private scheduledTotal = 0;
  private retryingTotal = 0;

  addLease(lease: LeaseState): void {
    this.leasesBySerial.set(lease.serial, lease);
    this.leasesBySeq.set(lease.seq, lease);
    this.leaseHeap.push(lease.expiresAtMs, lease.seq);
    bump(this.inProgressByQueue, lease.queue, 1);
  }

  /** The live lease of task `id` with this serial, if there is one. */
  leaseOf(id: string, serial: number): LeaseState | undefined {
    const lease = this.leasesBySerial.get(serial);
    return lease !== undefined && lease.id === id ? lease : undefined;
  }

  removeLease(lease: LeaseState): void {
    this.leasesBySerial.delete(lease.serial);
    this.leasesBySeq.delete(lease.seq);
    bump(this.inProgressByQueue, lease.queue, -1);
    // An ended or renewed lease leaves its heap entry until that time comes round (a lease's
    // length, 30 s by default: over a million entries at 40k tasks/s). Past a bound, the entries
    // of leases no longer held as they were are dropped at once; amortized O(1) per lease.
    if (this.leaseHeap.size > STALE_LEASE_ENTRIES + 2 * this.leasesBySeq.size) {
      this.leaseHeap.retain((dueMs, seq) => this.leasesBySeq.get(seq)?.expiresAtMs === dueMs);
    }
  }

  /** A scheduled task, or (`retrying`) a failed one waiting for its retry. */
  addScheduled(queue: string, seq: number, runAtMs: number, retrying = false): void {
    this.runAtHeap.push(runAtMs, seq);
    bump(this.scheduledByQueue, queue, 1);
    this.scheduledTotal++;
    if (retrying) {
      bump(this.retryingByQueue, queue, 1);
      this.retryingTotal++;
    }
  }

  /** A scheduled/failed task left that state (promoted, cancelled or deleted); its heap entry goes stale. */
  scheduledGone(queue: string, retrying = false): void {
    bump(this.scheduledByQueue, queue, -1);
    this.scheduledTotal--;
    if (retrying) {
      bump(this.retryingByQueue, queue, -1);
      this.retryingTotal--;
    }
  }

  /** Earliest promotion or lease expiry, or null. */
  nextDueMs(): number | null {
    const a = this.runAtHeap.peekDueMs();
    const b = this.leaseHeap.peekDueMs();
    if (a === null) return b;
    if (b === null) return a;
    return Math.min(a, b);
  }

  clear(): void {
    this.ready.clear();
    this.runAtHeap.clear();
    this.leaseHeap.clear();
    this.leasesBySerial.clear();
    this.leasesBySeq.clear();
    this.scheduledByQueue.clear();
    this.retryingByQueue.clear();
    this.inProgressByQueue.clear();
    this.finished.clear();
    this.scheduledTotal = 0;
    this.retryingTotal = 0;
  }

  counts(): TaskCounts {
    const names = new Set<string>([...this.ready.queueNames(), ...this.scheduledByQueue.keys(), ...this.inProgressByQueue.keys(), ...this.finished.queueNames()]);
    const queues: QueueCounts[] = [];
    for (const queue of [...names].sort()) {
      const q = this.ready.queue(queue);
      const tiers = q?.tierCounts();
      const done = this.finished.of(queue);
      queues.push({
        queue,
        pending: { high: tiers?.high ?? 0, normal: tiers?.normal ?? 0, low: tiers?.low ?? 0 },
        scheduled: this.scheduledByQueue.get(queue) ?? 0,
        inProgress: this.inProgressByQueue.get(queue) ?? 0,
        oldestReadyAtMs: q === undefined || q.size === 0 ? null : q.oldestReadyAtMs(),
        retrying: this.retryingByQueue.get(queue) ?? 0,
        completed: done.completed,
        dead: done.dead,
        cancelled: done.cancelled,
      });
    }
    const done = this.finished.totals;
    return {
      pending: this.ready.size, scheduled: this.scheduledTotal, inProgress: this.leasesBySerial.size,
      retrying: this.retryingTotal, completed: done.completed, dead: done.dead, cancelled: done.cancelled, queues,
    };
  }

  /** Bytes held by the typed arrays and lease slots (live lease objects come on top). */
  get indexBytes(): number {
    return this.ready.capacityBytes + this.runAtHeap.capacityBytes + this.leaseHeap.capacityBytes + this.leasesBySerial.capacityBytes + this.leasesBySeq.capacityBytes;
  }
}

export type FinishedStatus = "completed" | "dead" | "cancelled";
type Finished = Record<FinishedStatus, number>;

/**
 * Finished rows per queue: counted once at open (the scan that reads every row, or the last clean
 * stop's snapshot, memory-snapshot.ts, checked against the file's index at that stop), then changed
 * with each row that reaches or leaves a finished status, in the group that writes it; a failed
 * group reloads memory and counts them again (load-memory.ts). So the counts survive restarts and
 * never need a scan of the table.
 */
export class FinishedCounts {
  private readonly byQueue = new Map<string, Finished>();
  readonly totals: Finished = { completed: 0, dead: 0, cancelled: 0 };

  add(queue: string, status: FinishedStatus, by: number): void {
    let q = this.byQueue.get(queue);
    if (q === undefined) {
      q = { completed: 0, dead: 0, cancelled: 0 };
      this.byQueue.set(queue, q);
    }
    q[status] += by;
    this.totals[status] += by;
    if (q.completed <= 0 && q.dead <= 0 && q.cancelled <= 0) this.byQueue.delete(queue);
  }

  of(queue: string): Readonly<Finished> {
    return this.byQueue.get(queue) ?? { completed: 0, dead: 0, cancelled: 0 };
  }

  queueNames(): IterableIterator<string> {
    return this.byQueue.keys();
  }

  clear(): void {
    this.byQueue.clear();
    this.totals.completed = 0;
    this.totals.dead = 0;
    this.totals.cancelled = 0;
  }
}

// Queues with nothing left are dropped so a burst of one-off queue names does not accumulate.
function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
