// Drives all time-based work of the store (promotions of due tasks, lease expiries) with one tick,
// then sleeps until the next due work, as beanstalkd's prottick() does. Owns only its timer; what
// a tick does is the store's business.

import type { TickOutcome } from "../store/store.ts";
import { systemTimers, type Clock, type TimerHandle, type Timers } from "../clock.ts";

export interface SchedulerOptions {
  store: { tick(nowMs: number): Promise<TickOutcome> };
  clock: Clock;
  timers?: Timers;
  /** Longest sleep between ticks even when nothing is due: bounds the damage of a missed poke. */
  maxSleepMs?: number;
  /** Told after every tick (metrics, waking blocking claims). */
  onTick?: (outcome: TickOutcome, nowMs: number) => void;
  log?: (message: string, err: unknown) => void;
}

export class Scheduler {
  private readonly timers: Timers;
  private readonly maxSleepMs: number;
  private timer: TimerHandle | null = null;
  private wakeAtMs = Number.POSITIVE_INFINITY;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;

  constructor(private readonly options: SchedulerOptions) {
    this.timers = options.timers ?? systemTimers;
    this.maxSleepMs = options.maxSleepMs ?? 1000;
  }

  /** Ticks at once, then keeps ticking when work is due. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.arm(0);
  }

  /**
   * Something may be due sooner than the current sleep (a task submitted with a near run_at, a
   * short lease): tick at `dueMs` (default now) unless a tick is already armed before then.
   */
  poke(dueMs?: number): void {
    if (this.stopped) return;
    const now = this.options.clock.now();
    const delayMs = Math.max(0, (dueMs ?? now) - now);
    if (now + delayMs < this.wakeAtMs) this.arm(delayMs);
  }

  /** Stops ticking; resolves once a tick in flight has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.disarm();
    await this.running;
  }

  private arm(delayMs: number): void {
    this.disarm();
    this.wakeAtMs = this.options.clock.now() + delayMs;
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.wakeAtMs = Number.POSITIVE_INFINITY;
      this.run();
    }, delayMs);
  }

  private disarm(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.wakeAtMs = Number.POSITIVE_INFINITY;
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
    let sleepMs = this.maxSleepMs;
    try {
      const outcome = await this.options.store.tick(nowMs);
      this.options.onTick?.(outcome, nowMs);
      if (outcome.nextDueMs !== null) sleepMs = Math.min(this.maxSleepMs, Math.max(0, outcome.nextDueMs - this.options.clock.now()));
    } catch (err) {
      // A failed tick (storage trouble) is retried after the longest sleep rather than in a hot loop.
      this.options.log?.("scheduler tick failed", err);
    }
    if (!this.stopped && (this.timer === null || this.options.clock.now() + sleepMs < this.wakeAtMs)) this.arm(sleepMs);
  }
}
