// A clock for scenario 6 that models a real host: wall time (what Clock.now returns, like
// Date.now) can be stepped forward or back, while timers run on a separate monotonic timeline
// (like setTimeout), so a wall-clock jump does not move or fire any timer. Test-only.

import type { Clock, TimerHandle, Timers } from "../../../src/clock.ts";

interface Timer {
  id: number;
  dueMonoMs: number;
  fn: () => void;
}

export class JumpClock implements Clock, Timers {
  private monoMs = 0;
  private offsetMs: number;
  private nextId = 1;
  private timers: Timer[] = [];
  /** Highest wall time ever shown. */
  maxWallMs: number;

  constructor(startWallMs = Date.UTC(2026, 0, 1)) {
    this.offsetMs = startWallMs;
    this.maxWallMs = startWallMs;
  }

  now(): number {
    const wall = this.monoMs + this.offsetMs;
    if (wall > this.maxWallMs) this.maxWallMs = wall;
    return wall;
  }

  /** Steps the wall clock (NTP step, suspend, an operator's `date -s`); timers do not notice. */
  jump(deltaMs: number): void {
    this.offsetMs += deltaMs;
    this.now();
  }

  /** Lets `ms` of real time pass: both timelines move; due timers fire in order (bounded). */
  advance(ms: number): void {
    const target = this.monoMs + ms;
    for (let fired = 0; fired < 100_000; fired++) {
      let next: Timer | undefined;
      for (const t of this.timers) if (t.dueMonoMs <= target && (next === undefined || t.dueMonoMs < next.dueMonoMs)) next = t;
      if (next === undefined) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.monoMs = Math.max(this.monoMs, next.dueMonoMs);
      next.fn();
    }
    this.monoMs = target;
    this.now();
  }

  /** Monotonic ms until the earliest armed timer, or null. */
  nextTimerInMs(): number | null {
    if (this.timers.length === 0) return null;
    return Math.min(...this.timers.map((t) => t.dueMonoMs)) - this.monoMs;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const id = this.nextId++;
    this.timers.push({ id, dueMonoMs: this.monoMs + Math.max(0, delayMs), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
}
