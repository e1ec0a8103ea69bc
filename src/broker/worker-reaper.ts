// Finds dead workers on time: asks the registry who is past two heartbeat intervals or past the
// disconnect grace, hands each to the broker to reclaim its tasks, and sleeps until the next one
// can be due. Owns only its timer; the reclaim itself is the broker's.

import { systemTimers, type Clock, type TimerHandle, type Timers } from "../clock.ts";
import type { WorkerRegistry, WorkerState } from "../workers/registry.ts";

export interface WorkerReaperOptions {
  registry: WorkerRegistry;
  clock: Clock;
  timers?: Timers;
  /** Longest sleep between checks (the heartbeat interval). */
  maxSleepMs: number;
  /** Takes a dead worker's tasks back. */
  onDead(worker: WorkerState): Promise<void>;
  /** Told after each check (stats, debug log). */
  onChecked?(nowMs: number, dead: number): void;
  onError(err: unknown): void;
}

/** A floor on sleeps, so a burst of pokes cannot spin the timer. */
const MIN_SLEEP_MS = 10;

export class WorkerReaper {
  private timer: TimerHandle | null = null;
  private readonly timers: Timers;
  private wakeAtMs = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(private readonly options: WorkerReaperOptions) {
    this.timers = options.timers ?? systemTimers;
    this.armIn(options.maxSleepMs);
  }

  /** Something may be due in `inMs` (a connection closed): check then, unless a check comes sooner. */
  poke(inMs: number): void {
    this.armIn(inMs);
  }

  /** One check now: every worker due is declared dead and reclaimed. */
  async check(): Promise<void> {
    const nowMs = this.options.clock.now();
    const { dead, nextCheckMs } = this.options.registry.reapDead(nowMs);
    for (const worker of dead) {
      // Stopped meanwhile (shutdown): the store may be closing; the next start reclaims anyway.
      if (this.stopped) return;
      await this.options.onDead(worker);
    }
    this.options.onChecked?.(nowMs, dead.length);
    this.armIn(nextCheckMs === null ? this.options.maxSleepMs : nextCheckMs - this.options.clock.now());
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  private armIn(inMs: number): void {
    if (this.stopped) return;
    const delayMs = Math.max(MIN_SLEEP_MS, Math.min(inMs, this.options.maxSleepMs));
    const atMs = this.options.clock.now() + delayMs;
    if (this.timer !== null && this.wakeAtMs <= atMs) return;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.wakeAtMs = atMs;
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.wakeAtMs = Number.POSITIVE_INFINITY;
      this.check().catch((err: unknown) => {
        this.options.onError(err);
        this.armIn(this.options.maxSleepMs);
      });
    }, delayMs);
  }
}
