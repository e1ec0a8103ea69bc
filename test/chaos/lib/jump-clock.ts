// A clock for scenario 6 that models a real host: wall time (what Clock.now returns, like
// Date.now) can be stepped forward or back, while timers run on the monotonic timeline (like
// setTimeout), so a wall-clock jump does not move or fire any timer. Test-only.

import { FakeClock } from "../../helpers/fake-clock.ts";

export class JumpClock extends FakeClock {
  /** Highest wall time ever shown. */
  maxWallMs: number;

  constructor(startWallMs = Date.UTC(2026, 0, 1)) {
    super(startWallMs);
    this.maxWallMs = startWallMs;
  }

  override now(): number {
    const wall = super.now();
    if (wall > this.maxWallMs) this.maxWallMs = wall;
    return wall;
  }

  /** Steps the wall clock (NTP step, suspend, an operator's `date -s`); timers do not notice. */
  jump(deltaMs: number): void {
    this.set(super.now() + deltaMs);
    this.now();
  }

  /** Lets `ms` of real time pass: both timelines move; due timers fire in order (bounded). */
  override advance(ms: number): void {
    super.advance(ms);
    this.now();
  }
}
