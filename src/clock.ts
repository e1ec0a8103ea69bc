// Time as an injected dependency: every lease, delay, backoff and scheduler decision reads a
// Clock and arms timers through Timers, so tests drive time with a fake instead of sleeping.
// Owns no state of the queue.

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** An opaque handle from Timers.setTimeout. */
export type TimerHandle = unknown;

export interface Timers {
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemTimers: Timers = {
  setTimeout(fn, delayMs) {
    const handle = setTimeout(fn, delayMs);
    // Background timers must never keep a stopping process alive on their own.
    (handle as { unref?: () => void }).unref?.();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};
