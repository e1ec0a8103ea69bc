// WaitingTasks: tasks delivered to a worker (its prefetch) and not started yet, in delivery
// order. Their leases run while they wait, so they are renewed on one timer, a third of a lease
// after the oldest arrived; one found lost is dropped, never started. Which to start and when is
// the Worker's; handlers are TaskRun's.

import { MAX_LEASE_MS, MIN_LEASE_MS } from "../protocol/limits.ts";
import type { ClaimedTask, LeaseRef } from "../protocol/messages.ts";

/** A delivered task and the lease length it was given (the wire carries only the expiry). */
export interface WaitingTask {
  claimed: ClaimedTask;
  leaseMs: number;
}

export interface WaitingTasksOptions {
  /** The broker's default lease: the estimate when the expiry and the local clock disagree wildly. */
  defaultLeaseMs(): number;
  /** Renews these leases; resolves with each new expiry, null for a lease that is lost. */
  renew(leases: LeaseRef[]): Promise<(number | null)[]>;
  /** A waiting task's lease was lost (expired or reclaimed before it started): it was dropped. */
  lost(task: ClaimedTask): void;
}

/** Fewest ms between renewals of waiting tasks, whatever their lease. */
const MIN_RENEW_EVERY_MS = 30;

/**
 * The lease length, estimated from the expiry the broker gave, trusting the clocks to agree
 * roughly; a wildly skewed clock falls back to the broker's default.
 */
export function estimateLeaseMs(expiresAtMs: number, defaultLeaseMs: number): number {
  const estimate = expiresAtMs - Date.now();
  return estimate >= MIN_LEASE_MS / 2 && estimate <= MAX_LEASE_MS ? estimate : defaultLeaseMs;
}

export class WaitingTasks {
  private queue: WaitingTask[] = [];
  /** Index of the first task still waiting in `queue` (shifting an array per task is O(n)). */
  private head = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly o: WaitingTasksOptions) {}

  get size(): number {
    return this.queue.length - this.head;
  }

  add(claimed: ClaimedTask): void {
    this.queue.push({ claimed, leaseMs: estimateLeaseMs(claimed.expiresAtMs, this.o.defaultLeaseMs()) });
    this.armRenewal();
  }

  /** The oldest waiting task, taken out to be started; null when none waits. */
  take(): WaitingTask | null {
    if (this.head >= this.queue.length) return null;
    const task = this.queue[this.head]!;
    this.queue[this.head++] = undefined as unknown as WaitingTask;
    // The renewal timer stays: it finds nothing when it fires and is not re-armed, which is cheaper
    // than a timer made and cleared for every task of a busy worker.
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return task;
  }

  /** Takes the waiting task with this lease out (it was cancelled); true when it was here. */
  remove(ref: LeaseRef): boolean {
    for (let i = this.head; i < this.queue.length; i++) {
      const t = this.queue[i]!.claimed;
      if (t.id === ref.id && t.token === ref.token) {
        this.queue.splice(i, 1);
        return true;
      }
    }
    return false;
  }

  /** Every waiting task, taken out (to hand back at stop). */
  takeAll(): ClaimedTask[] {
    const all = this.queue.slice(this.head).map((t) => t.claimed);
    this.queue = [];
    this.head = 0;
    this.stopRenewal();
    return all;
  }

  /** The leases of the waiting tasks (a heartbeat renews them too). */
  leases(): LeaseRef[] {
    return this.queue.slice(this.head).map((t) => ({ id: t.claimed.id, token: t.claimed.token }));
  }

  /** New expiries for these leases (null = lost: that task is dropped). */
  renewed(refs: readonly LeaseRef[], expiries: readonly (number | null)[]): void {
    const byKey = new Map<string, number | null>();
    refs.forEach((ref, i) => byKey.set(`${ref.id}/${ref.token}`, expiries[i] ?? null));
    const lost: ClaimedTask[] = [];
    const kept: WaitingTask[] = [];
    for (let i = this.head; i < this.queue.length; i++) {
      const t = this.queue[i]!;
      const key = `${t.claimed.id}/${t.claimed.token}`;
      if (!byKey.has(key)) kept.push(t);
      else {
        const expiry = byKey.get(key)!;
        if (expiry === null) lost.push(t.claimed);
        else {
          t.claimed = { ...t.claimed, expiresAtMs: expiry };
          kept.push(t);
        }
      }
    }
    this.queue = kept;
    this.head = 0;
    if (kept.length === 0) this.stopRenewal();
    for (const task of lost) this.o.lost(task);
  }

  stop(): void {
    this.stopRenewal();
  }

  /** One timer for all of them: a third of the shortest lease after now, while any waits. */
  private armRenewal(): void {
    if (this.timer !== null) return;
    let leaseMs = Number.POSITIVE_INFINITY;
    for (let i = this.head; i < this.queue.length; i++) leaseMs = Math.min(leaseMs, this.queue[i]!.leaseMs);
    this.timer = setTimeout(() => void this.renewNow(), Math.max(MIN_RENEW_EVERY_MS, Math.floor(leaseMs / 3)));
  }

  private async renewNow(): Promise<void> {
    this.timer = null;
    const refs = this.leases();
    if (refs.length === 0) return;
    try {
      this.renewed(refs, await this.o.renew(refs));
    } catch {
      // A dropped connection or a timeout: the next renewal (or heartbeat) tries again.
    }
    if (this.size > 0) this.armRenewal();
  }

  private stopRenewal(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
