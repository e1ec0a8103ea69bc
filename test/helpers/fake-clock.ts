// A Clock and Timers that move only when a test says so: lease, delay, backoff and scheduler
// tests advance time instead of sleeping. Test-only; production code takes systemClock/systemTimers.

import type { Clock, TimerHandle, Timers } from "../../src/clock.ts";

interface FakeTimer {
  id: number;
  dueMs: number;
  fn: () => void;
}

export class FakeClock implements Clock, Timers {
  private nowMs: number;
  private nextId = 1;
  private timers: FakeTimer[] = [];

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  /** Sets the time without firing timers (a jump, as after a suspend). */
  set(ms: number): void {
    this.nowMs = ms;
  }

  /** Moves time forward, firing due timers in due order (each sees the clock at its due time). */
  advance(ms: number): void {
    const target = this.nowMs + ms;
    for (let fired = 0; fired < 100_000; fired++) {
      const next = this.timers.reduce<FakeTimer | undefined>((a, t) => (t.dueMs <= target && (a === undefined || t.dueMs < a.dueMs) ? t : a), undefined);
      if (next === undefined) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.nowMs = Math.max(this.nowMs, next.dueMs);
      next.fn();
    }
    this.nowMs = target;
  }

  /** Timers still armed. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Due time of the earliest armed timer, or null. */
  nextTimerDueMs(): number | null {
    return this.timers.length === 0 ? null : Math.min(...this.timers.map((t) => t.dueMs));
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const id = this.nextId++;
    this.timers.push({ id, dueMs: this.nowMs + Math.max(0, delayMs), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
}
