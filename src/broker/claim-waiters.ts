// Blocking claims parked until a task arrives or their wait runs out. Served first-come
// first-served among waiting workers; which task each gets (priority, then FIFO) is the store's
// rule. Holds no task state itself.

import type { Clock, TimerHandle } from "../clock.ts";
import type { BrokerError } from "../protocol/errors.ts";
import type { Lease } from "../rules/task.ts";

export interface ClaimWaiter {
  readonly queues: readonly string[];
  readonly workerId: string;
  readonly max: number;
  readonly deadlineMs: number;
  /** Answered with the leases, or with `error` (the broker is shutting down) and none. */
  readonly resolve: (leases: Lease[], error?: BrokerError) => void;
  /** Its place among consumers waiting for tasks (subscriptions too): lower waited longer. */
  readonly ticket: number;
  timer: TimerHandle | null;
  /** Taken out to be served: its timer must not answer it with nothing meanwhile. */
  serving: boolean;
  done: boolean;
}

export type ParkedClaim = Pick<ClaimWaiter, "queues" | "workerId" | "max" | "resolve">;

export class ClaimWaiters {
  private waiters: ClaimWaiter[] = [];
  /** Set by failAll (shutdown): nothing waits any more. */
  private closedWith: BrokerError | null = null;

  /**
   * `clock`: the broker's; a wait runs out on its timers. `ticket` gives each parked claim its
   * place in the line it shares with subscriptions waiting for tasks.
   */
  constructor(
    private readonly clock: Clock,
    private readonly ticket: () => number = counter(),
  ) {}

  get size(): number {
    return this.waiters.length;
  }

  /** Parks a claim; it is answered with [] after waitMs unless served first. Returns a cancel function. */
  park(claim: ParkedClaim, waitMs: number): () => void {
    const waiter: ClaimWaiter = { ...claim, deadlineMs: this.clock.now() + waitMs, ticket: this.ticket(), timer: null, serving: false, done: false };
    this.arm(waiter);
    this.waiters.push(waiter);
    return () => {
      if (!waiter.serving) this.finish(waiter, []);
    };
  }

  /** The longest-waiting claim for which `eligible` holds, or null; it stays parked until take(). */
  first(eligible: (waiter: ClaimWaiter) => boolean): ClaimWaiter | null {
    for (const waiter of this.waiters) if (eligible(waiter)) return waiter;
    return null;
  }

  /** Takes a parked claim out to be served (answer it with served()). */
  take(waiter: ClaimWaiter): void {
    const at = this.waiters.indexOf(waiter);
    if (at >= 0) this.waiters.splice(at, 1);
    waiter.serving = true;
  }

  /** Answers a claim taken by takeFirst. With nothing claimed and time left, it waits again at the head of the line. */
  served(waiter: ClaimWaiter, leases: Lease[]): void {
    waiter.serving = false;
    if (leases.length === 0 && this.closedWith !== null) {
      this.finish(waiter, [], this.closedWith);
      return;
    }
    if (leases.length === 0 && !waiter.done && this.clock.now() < waiter.deadlineMs) {
      this.waiters.unshift(waiter);
      return;
    }
    this.finish(waiter, leases);
  }

  /**
   * Shutdown: every parked claim is answered with `error` rather than an empty list (which would
   * read as "no task came"); one being served gets what the store gave it, or the error.
   */
  failAll(error: BrokerError): void {
    this.closedWith = error;
    for (const waiter of [...this.waiters]) this.finish(waiter, [], error);
  }

  private arm(waiter: ClaimWaiter): void {
    waiter.timer = this.clock.setTimeout(() => {
      if (!waiter.serving) this.finish(waiter, []);
    }, Math.max(0, waiter.deadlineMs - this.clock.now()));
  }

  private finish(waiter: ClaimWaiter, leases: Lease[], error?: BrokerError): void {
    if (waiter.done) return;
    waiter.done = true;
    if (waiter.timer !== null) this.clock.clearTimeout(waiter.timer);
    const at = this.waiters.indexOf(waiter);
    if (at >= 0) this.waiters.splice(at, 1);
    waiter.resolve(leases, error);
  }
}

function counter(): () => number {
  let n = 0;
  return () => ++n;
}
