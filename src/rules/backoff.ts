// The retry delay policy: exponential, capped, jittered. Pure arithmetic; the random source is
// injected so a test can pin the jitter.

export interface BackoffPolicy {
  /** Delay before the first retry, in ms. */
  baseMs: number;
  /** Multiplier per further attempt (>= 1). */
  factor: number;
  /** No delay is ever longer than this, in ms. */
  maxMs: number;
  /** 0..1: the share of the delay that is random; 0 = exact, 1 = anywhere in [0, delay]. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1000, factor: 2, maxMs: 10 * 60 * 1000, jitter: 0.2 };

/**
 * Delay before retry number `attempt` (1 = the first retry): baseMs * factor^(attempt-1), capped at
 * maxMs, then reduced by up to `jitter` of itself so that a burst of failures does not come back as
 * a burst of retries. Jitter only ever shortens, so maxMs stays a true cap.
 */
export function retryDelayMs(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.max(0, attempt - 1);
  // factor^exponent overflows to Infinity for large attempts; min() keeps it finite.
  const raw = policy.baseMs * Math.pow(Math.max(1, policy.factor), exponent);
  const capped = Math.min(policy.maxMs, Number.isFinite(raw) ? raw : policy.maxMs);
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  return Math.max(0, Math.round(capped * (1 - jitter * random())));
}
