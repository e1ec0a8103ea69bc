// A Clock that moves only when a test says so: lease, delay, backoff, reaper, waiter and deadline
// tests advance time instead of sleeping, against a store, a broker or a whole app on real sockets
// (startBroker's `clock`). Test-only; production code takes systemClock.

import type { Clock, TimerHandle } from "../../src/clock.ts";

interface FakeTimer {
  /** Due on the monotonic timeline. */
  dueMs: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private wallMs: number;
  private monoMs = 0;
  private nextId = 1;
  /** Armed timers in the order they were armed (equal due times fire in that order). */
  private readonly timers = new Map<number, FakeTimer>();
  private dueSoon = false;

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.wallMs = startMs;
  }

  now(): number {
    return this.wallMs;
  }

  monotonicMs(): number {
    return this.monoMs;
  }

  /** Sets the wall time without moving the monotonic time or firing timers (a step, as after `date -s`). */
  set(ms: number): void {
    this.wallMs = ms;
  }

  /**
   * Moves time forward by `ms`, firing due timers in due order; each sees the clock at its due
   * time. What a timer starts asynchronously (a store tick, a reply) finishes after this returns:
   * wait for its effect, not for time.
   */
  advance(ms: number): void {
    const target = this.monoMs + ms;
    for (let fired = 0; fired < 100_000; fired++) {
      const next = this.earliest(target);
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.moveTo(next[1].dueMs);
      next[1].fn();
    }
    this.moveTo(target);
  }

  /** Timers still armed. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Ms from now until each armed timer is due, soonest first: lets a test see that the broker armed a deadline. */
  armedIn(): number[] {
    return [...this.timers.values()].map((t) => t.dueMs - this.monoMs).sort((x, y) => x - y);
  }

  /** Ms from now until the earliest armed timer is due, or null. */
  nextTimerInMs(): number | null {
    const next = this.earliest(Number.POSITIVE_INFINITY);
    return next === undefined ? null : next[1].dueMs - this.monoMs;
  }

  /**
   * Arms a timer on the monotonic timeline. One due at the current instant (delay 0: "tick now")
   * fires on the next turn of the event loop, as a real one would; later ones wait for advance().
   */
  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const id = this.nextId++;
    const dueMs = this.monoMs + Math.max(0, delayMs);
    this.timers.set(id, { dueMs, fn });
    if (dueMs <= this.monoMs && !this.dueSoon) {
      this.dueSoon = true;
      setImmediate(() => {
        this.dueSoon = false;
        this.advance(0);
      });
    }
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  private earliest(notAfterMs: number): [number, FakeTimer] | undefined {
    let best: [number, FakeTimer] | undefined;
    for (const entry of this.timers) {
      if (entry[1].dueMs <= notAfterMs && (best === undefined || entry[1].dueMs < best[1].dueMs)) best = entry;
    }
    return best;
  }

  private moveTo(monoMs: number): void {
    if (monoMs <= this.monoMs) return;
    this.wallMs += monoMs - this.monoMs;
    this.monoMs = monoMs;
  }
}
