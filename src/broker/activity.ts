// The last hour of the broker's activity for the dashboard's charts: tasks submitted, completed and
// failed per 10 s slot, queue depth sampled each slot, and per queue the completions and failures
// per minute (throughput, failure rate). Fixed-size rings in memory, no database: a restart starts
// them empty. Knows nothing of HTTP; the broker feeds it.

import { DueTimer, type Clock } from "../clock.ts";
import type { TaskCounts } from "../rules/task.ts";

/** One slot of the charts. 360 of them: one hour. */
export const ACTIVITY_SLOT_MS = 10_000;
export const ACTIVITY_SLOTS = 360;
const MINUTE_MS = 60_000;
/** Minutes of per-queue figures kept (throughput and failure rate are read over the last few). */
const QUEUE_MINUTES = 60;
/** Queues with their own figures; later ones are not tracked (a queue per user must not grow memory). */
export const MAX_TRACKED_QUEUES = 1000;

export interface ActivityPoint {
  /** Start of the slot, epoch ms. */
  atMs: number;
  submitted: number;
  completed: number;
  /** Runs that failed: reported failures (retried or dead) and expired leases. */
  failed: number;
  /** Ready, waiting (scheduled or retrying) and running tasks when the slot was sampled; null before the first sample. */
  pending: number | null;
  scheduled: number | null;
  inProgress: number | null;
}

export interface QueueRates {
  /** Completions per minute over the window. */
  completedPerMin: number;
  failedPerMin: number;
  /** failed / (completed + failed) over the window; null when nothing ran. */
  failureRate: number | null;
}

/** A ring of `size` numbers indexed by an ever-growing slot number; slots passed over read 0. */
class SlotRing {
  readonly values: Float64Array;
  /** The slot number each cell holds; -1 = never written. */
  private readonly slots: Float64Array;

  constructor(readonly size: number) {
    this.values = new Float64Array(size);
    this.slots = new Float64Array(size).fill(-1);
  }

  add(slot: number, by: number): void {
    const i = slot % this.size;
    if (this.slots[i] !== slot) {
      this.slots[i] = slot;
      this.values[i] = 0;
    }
    this.values[i]! += by;
  }

  set(slot: number, value: number): void {
    const i = slot % this.size;
    this.slots[i] = slot;
    this.values[i] = value;
  }

  /** The value of `slot`, or `missing` when the ring does not hold it. */
  get(slot: number, missing: number | null = 0): number | null {
    const i = slot % this.size;
    return this.slots[i] === slot ? this.values[i]! : missing;
  }
}

interface QueueRing {
  completed: SlotRing;
  failed: SlotRing;
}

export interface ActivityOptions {
  clock: Clock;
  /** Depth at each slot: the store's counts (memory for SQLite, one query for a database). */
  counts: () => Promise<TaskCounts>;
  onError?: (err: unknown) => void;
}

export class Activity {
  private readonly submitted = new SlotRing(ACTIVITY_SLOTS);
  private readonly completed = new SlotRing(ACTIVITY_SLOTS);
  private readonly failed = new SlotRing(ACTIVITY_SLOTS);
  private readonly pending = new SlotRing(ACTIVITY_SLOTS);
  private readonly scheduled = new SlotRing(ACTIVITY_SLOTS);
  private readonly inProgress = new SlotRing(ACTIVITY_SLOTS);
  private readonly queues = new Map<string, QueueRing>();
  private readonly timer: DueTimer;
  private running = false;

  constructor(private readonly options: ActivityOptions) {
    this.timer = new DueTimer({ clock: options.clock, fire: () => void this.sampleNow() });
  }

  /** Samples depth now and then once per slot. */
  start(): void {
    if (this.running) return;
    this.running = true;
    void this.sampleNow();
  }

  stop(): void {
    this.running = false;
    this.timer.cancel();
  }

  submittedTasks(count: number): void {
    this.submitted.add(this.slot(), count);
  }

  completedTask(queue: string): void {
    this.completed.add(this.slot(), 1);
    const q = this.queue(queue);
    if (q !== undefined) q.completed.add(this.minute(), 1);
  }

  /** A failed run; `queue` null when it is not known (an expired lease). */
  failedRun(queue: string | null, count = 1): void {
    this.failed.add(this.slot(), count);
    const q = queue === null ? undefined : this.queue(queue);
    if (q !== undefined) q.failed.add(this.minute(), count);
  }

  /** Every slot of the last hour, oldest first, ending with the current one. */
  series(): ActivityPoint[] {
    const now = this.slot();
    const points: ActivityPoint[] = [];
    for (let slot = now - ACTIVITY_SLOTS + 1; slot <= now; slot++) {
      points.push({
        atMs: slot * ACTIVITY_SLOT_MS,
        submitted: this.submitted.get(slot)!,
        completed: this.completed.get(slot)!,
        failed: this.failed.get(slot)!,
        pending: this.pending.get(slot, null),
        scheduled: this.scheduled.get(slot, null),
        inProgress: this.inProgress.get(slot, null),
      });
    }
    return points;
  }

  /** A queue's completions and failures per minute over the last `minutes` whole minutes and the current one. */
  queueRates(queue: string, minutes = 5): QueueRates {
    const q = this.queues.get(queue);
    let completed = 0;
    let failed = 0;
    const now = this.minute();
    for (let m = now - minutes; q !== undefined && m <= now; m++) {
      completed += q.completed.get(m)!;
      failed += q.failed.get(m)!;
    }
    const spanMin = minutes + (this.options.clock.now() % MINUTE_MS) / MINUTE_MS;
    return { completedPerMin: completed / spanMin, failedPerMin: failed / spanMin, failureRate: completed + failed === 0 ? null : failed / (completed + failed) };
  }

  private async sampleNow(): Promise<void> {
    if (!this.running) return;
    try {
      const counts = await this.options.counts();
      const slot = this.slot();
      this.pending.set(slot, counts.pending);
      this.scheduled.set(slot, counts.scheduled);
      this.inProgress.set(slot, counts.inProgress);
    } catch (err) {
      this.options.onError?.(err);
    }
    if (this.running) this.timer.wakeAt((this.slot() + 1) * ACTIVITY_SLOT_MS);
  }

  private queue(name: string): QueueRing | undefined {
    let q = this.queues.get(name);
    if (q === undefined && this.queues.size < MAX_TRACKED_QUEUES) {
      q = { completed: new SlotRing(QUEUE_MINUTES), failed: new SlotRing(QUEUE_MINUTES) };
      this.queues.set(name, q);
    }
    return q;
  }

  private slot(): number {
    return Math.floor(this.options.clock.now() / ACTIVITY_SLOT_MS);
  }

  private minute(): number {
    return Math.floor(this.options.clock.now() / MINUTE_MS);
  }
}
