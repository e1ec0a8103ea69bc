// Time as one injected dependency, passed down from startApp: every lease, delay, backoff, reaper,
// waiter and connection deadline reads this Clock and arms its timers, so tests drive time with a
// fake instead of sleeping. DueTimer: "wake me at T", the one re-arm rule they share. No queue state.

/** An opaque handle from Clock.setTimeout. */
export type TimerHandle = unknown;

export interface Clock {
  /** Wall time, epoch ms: what tasks are stamped with and run_at / lease expiry compare against. */
  now(): number;
  /** Ms on a timeline that never steps (performance.now): for waits that must not move when the wall clock does. */
  monotonicMs(): number;
  /** Runs `fn` once after `delayMs` of monotonic time. Never keeps a stopping process alive. */
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonicMs: () => performance.now(),
  setTimeout(fn, delayMs) {
    const handle = setTimeout(fn, delayMs);
    // Broker timers must never keep a stopping process alive on their own.
    (handle as { unref?: () => void }).unref?.();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

export interface DueTimerOptions {
  clock: Clock;
  /** Called when the wake comes; the timer is already disarmed, so `fire` may arm it again. */
  fire: () => void;
  /** Which of the clock's times wakeAt() speaks: "wall" (task times, the default) or "monotonic". */
  timeline?: "wall" | "monotonic";
  /**
   * Shortest sleep of a wakeIn, so a burst of pokes for "now" cannot spin the timer; default 0. A
   * wakeAt is not held back by it: a due time that has already come fires at once.
   */
  minSleepMs?: number;
  /** Longest sleep, so a missed wake costs at most this much; default none. */
  maxSleepMs?: number;
}

/**
 * One timer that wakes its owner at the earliest time asked of it: a later wake never postpones an
 * armed earlier one, an earlier one re-arms. Owned by the scheduler, the worker reaper and each
 * connection's deadlines. Allocates nothing per wake beyond the clock's own timer.
 */
export class DueTimer {
  private readonly clock: Clock;
  private readonly wall: boolean;
  private readonly minSleepMs: number;
  private readonly maxSleepMs: number;
  private handle: TimerHandle | null = null;
  /** When the armed timer is due, on the timer's timeline; Infinity when disarmed. */
  private wakeAtMs = Number.POSITIVE_INFINITY;
  private readonly onTimer: () => void;

  constructor(options: DueTimerOptions) {
    this.clock = options.clock;
    this.wall = (options.timeline ?? "wall") === "wall";
    this.minSleepMs = options.minSleepMs ?? 0;
    this.maxSleepMs = options.maxSleepMs ?? Number.POSITIVE_INFINITY;
    const fire = options.fire;
    this.onTimer = () => {
      this.handle = null;
      this.wakeAtMs = Number.POSITIVE_INFINITY;
      fire();
    };
  }

  /** True while a wake is armed. */
  get armed(): boolean {
    return this.handle !== null;
  }

  /** Wake at `atMs` on this timer's timeline (at most maxSleepMs from now), unless a wake is armed no later. */
  wakeAt(atMs: number): void {
    const nowMs = this.time();
    this.arm(nowMs, Math.max(0, Math.min(atMs - nowMs, this.maxSleepMs)));
  }

  /** Wake `inMs` from now (kept between minSleepMs and maxSleepMs), unless a wake is armed no later. */
  wakeIn(inMs: number): void {
    this.arm(this.time(), Math.max(this.minSleepMs, Math.min(inMs, this.maxSleepMs)));
  }

  /** Disarms; a later wake arms it again. */
  cancel(): void {
    if (this.handle !== null) this.clock.clearTimeout(this.handle);
    this.handle = null;
    this.wakeAtMs = Number.POSITIVE_INFINITY;
  }

  private time(): number {
    return this.wall ? this.clock.now() : this.clock.monotonicMs();
  }

  private arm(nowMs: number, delayMs: number): void {
    const atMs = nowMs + delayMs;
    if (this.handle !== null) {
      if (this.wakeAtMs <= atMs) return;
      this.clock.clearTimeout(this.handle);
    }
    this.wakeAtMs = atMs;
    // Rounded up: a timer that fires a fraction early would find nothing due yet.
    this.handle = this.clock.setTimeout(this.onTimer, Math.ceil(delayMs));
  }
}
