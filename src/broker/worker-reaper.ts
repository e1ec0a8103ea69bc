// Finds dead workers on time: asks the registry who is past two heartbeat intervals or past the
// disconnect grace, hands each to the broker to reclaim its tasks, and sleeps until the next one
// can be due. Owns only its timer; the reclaim itself is the broker's.

import { DueTimer, type Clock } from "../clock.ts";
import type { WorkerRegistry, WorkerState } from "../workers/registry.ts";

export interface WorkerReaperOptions {
  registry: WorkerRegistry;
  /** The broker's clock: liveness is judged by its time and checks sleep on its timers. */
  clock: Clock;
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
  private readonly timer: DueTimer;
  private stopped = false;

  constructor(private readonly options: WorkerReaperOptions) {
    this.timer = new DueTimer({
      clock: options.clock,
      minSleepMs: MIN_SLEEP_MS,
      maxSleepMs: options.maxSleepMs,
      fire: () => {
        this.check().catch((err: unknown) => {
          this.options.onError(err);
          this.armIn(this.options.maxSleepMs);
        });
      },
    });
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
    if (this.stopped) return;
    // Absolute, so a check that finished late still wakes when the next worker is due.
    if (nextCheckMs === null) this.timer.wakeIn(this.options.maxSleepMs);
    else this.timer.wakeAt(nextCheckMs);
  }

  stop(): void {
    this.stopped = true;
    this.timer.cancel();
  }

  private armIn(inMs: number): void {
    if (!this.stopped) this.timer.wakeIn(inMs);
  }
}
