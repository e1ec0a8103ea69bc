// The retry delay policy: exponential growth, the cap, and jitter that only ever shortens.

import { expect, test } from "bun:test";
import { retryDelayMs } from "../../../src/rules/backoff.ts";

const policy = { baseMs: 500, factor: 3, maxMs: 20_000, jitter: 0 };

test("exponential from baseMs, capped at maxMs", () => {
  expect([1, 2, 3, 4, 5].map((a) => retryDelayMs(a, policy))).toEqual([500, 1500, 4500, 13_500, 20_000]);
  expect(retryDelayMs(10_000, policy)).toBe(20_000);
});

test("jitter only shortens, by at most its share, deterministically for an injected random", () => {
  const jittered = { ...policy, jitter: 0.4 };
  expect(retryDelayMs(2, jittered, () => 0)).toBe(1500);
  expect(retryDelayMs(2, jittered, () => 1)).toBe(900);
  expect(retryDelayMs(2, jittered, () => 0.5)).toBe(1200);
  for (let i = 0; i < 100; i++) {
    const d = retryDelayMs(9, jittered);
    expect(d).toBeGreaterThanOrEqual(12_000);
    expect(d).toBeLessThanOrEqual(20_000);
  }
});

test("degenerate settings stay finite and non-negative", () => {
  expect(retryDelayMs(0, policy)).toBe(500);
  expect(retryDelayMs(5, { baseMs: 100, factor: 0.5, maxMs: 1000, jitter: 0 })).toBe(100);
  expect(retryDelayMs(3, { baseMs: 100, factor: 2, maxMs: 1000, jitter: 7 }, () => 1)).toBe(0);
});
