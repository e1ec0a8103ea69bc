// Drives all time-based work of the store (promotions of due tasks, lease expiries) with one tick,
// then sleeps until the next due work, as beanstalkd's prottick() does. Owns only its timer; what
// a tick does is the store's business.

import type { TickOutcome } from "../store/store.ts";
import { DueTimer, type Clock } from "../clock.ts";

export interface SchedulerOptions {
  store: { tick(nowMs: number): Promise<TickOutcome> };
  /** The broker's clock: ticks read its time and sleep on its timers. */
  clock: Clock;
  /** Longest sleep between ticks even when nothing is due: bounds the damage of a missed poke. */
  maxSleepMs?: number;
  /** Told after every tick (metrics, waking blocking claims). */
  onTick?: (outcome: TickOutcome, nowMs: number) => void;
  log?: (message: string, err: unknown) => void;
}

export class Scheduler {
  private readonly maxSleepMs: number;
  private readonly timer: DueTimer;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;

  constructor(private readonly options: SchedulerOptions) {
    this.maxSleepMs = options.maxSleepMs ?? 1000;
    this.timer = new DueTimer({ clock: options.clock, maxSleepMs: this.maxSleepMs, fire: () => this.run() });
  }

  /** Ticks at once, then keeps ticking when work is due. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.timer.wakeIn(0);
  }

  /**
   * Something may be due sooner than the current sleep (a task submitted with a near run_at, a
   * short lease): tick at `dueMs` (default now) unless a tick is already armed before then.
   */
  poke(dueMs?: number): void {
    if (this.stopped) return;
    if (dueMs === undefined) this.timer.wakeIn(0);
    else this.timer.wakeAt(dueMs);
  }

  /** Stops ticking; resolves once a tick in flight has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer.cancel();
    await this.running;
  }

  private run(): void {
    if (this.running !== null) {
      // A tick is in flight: run one more right after it instead of two at once.
      this.again = true;
      return;
    }
    this.running = this.tickOnce().finally(() => {
      this.running = null;
      if (this.again && !this.stopped) {
        this.again = false;
        this.run();
      }
    });
  }

  private async tickOnce(): Promise<void> {
    const nowMs = this.options.clock.now();
    let nextDueMs: number | null = null;
    try {
      const outcome = await this.options.store.tick(nowMs);
      this.options.onTick?.(outcome, nowMs);
      nextDueMs = outcome.nextDueMs;
    } catch (err) {
      // A failed tick (storage trouble) is retried after the longest sleep rather than in a hot loop.
      this.options.log?.("scheduler tick failed", err);
    }
    if (this.stopped) return;
    // Absolute, so a tick that finished late still wakes when the work is due; capped by maxSleepMs.
    if (nextDueMs === null) this.timer.wakeIn(this.maxSleepMs);
    else this.timer.wakeAt(nextDueMs);
  }
}
