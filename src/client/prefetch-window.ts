// PrefetchWindow: how many tasks a worker asks the broker to keep out to it at once (its
// subscription's credits). Enough waiting beyond the running ones that a freed slot never waits
// for a delivery, and no more, so tasks do not queue in one busy worker while another idles: by
// Little's law, the tasks that finish while a delivery is on its way, from the handlers' typical
// duration. A fixed prefetch (the option) never moves. Pure arithmetic; the Worker subscribes.

import { MAX_SUBSCRIBE_CREDITS } from "../protocol/limits.ts";

/**
 * The time the waiting tasks should cover: a credit's way back to the broker and the next task's
 * way here, with room for a busy broker (a loopback round trip is ~0.1 ms, a LAN's ~0.5 ms).
 */
const COVER_MS = 5;
/** Handlers measured faster than this count as this fast (no handler is free). */
const FLOOR_MS = 0.01;
/** The most credits the window grows to by itself: a thousand no-op tasks are a few ms of work. */
const MAX_AUTO_CREDITS = 1000;
/** Credits at start, before any handler was timed: Celery's default prefetch multiplier. */
const START_PER_SLOT = 4;
/**
 * Weight of each new duration in the running average, which is of the durations' logarithms (a
 * geometric mean): a handler's wall time includes any time the process waited for a CPU, and on a
 * loaded machine a few no-op handlers measured at several ms pulled an arithmetic mean of 0.01 ms
 * durations to ~0.5 ms, closing the window from 1000 to ~44 credits, which then held the worker
 * to a delivery round trip per 44 tasks. The logarithms' mean moves by a factor, not by the
 * outlier's size. For slow handlers it changes little: their window is about `concurrency` either way.
 */
const SMOOTHING = 0.05;
/** A change of the credits asked for is sent at most this often. */
const MIN_CHANGE_EVERY_MS = 200;

export class PrefetchWindow {
  private current: number;
  /** Running mean of ln(duration in ms). */
  private avgLogMs: number | null = null;
  private changedAtMs = Number.NEGATIVE_INFINITY;
  private readonly max: number;

  /** `fixed`: the worker's prefetch option; null lets the window follow the handlers. */
  constructor(
    private readonly concurrency: number,
    private readonly fixed: number | null,
  ) {
    this.max = Math.min(MAX_SUBSCRIBE_CREDITS, Math.max(concurrency * START_PER_SLOT, MAX_AUTO_CREDITS));
    this.current = fixed ?? Math.min(MAX_SUBSCRIBE_CREDITS, concurrency * START_PER_SLOT);
  }

  /** The credits to ask for now. */
  get credits(): number {
    return this.current;
  }

  get adaptive(): boolean {
    return this.fixed === null;
  }

  /**
   * A handler ran for `handlerMs`. Returns the new credits when the window should change (by at
   * least a factor of two, not more often than every 200 ms), else null.
   */
  observe(handlerMs: number, nowMs: number): number | null {
    if (this.fixed !== null) return null;
    const logMs = Math.log(Math.max(FLOOR_MS, handlerMs));
    this.avgLogMs = this.avgLogMs === null ? logMs : this.avgLogMs + (logMs - this.avgLogMs) * SMOOTHING;
    const typicalMs = Math.exp(this.avgLogMs);
    const target = Math.min(this.max, Math.max(this.concurrency, Math.ceil(this.concurrency * (1 + COVER_MS / typicalMs))));
    if (target < this.current * 2 && target * 2 > this.current) return null;
    if (nowMs - this.changedAtMs < MIN_CHANGE_EVERY_MS) return null;
    this.changedAtMs = nowMs;
    this.current = target;
    return target;
  }
}
