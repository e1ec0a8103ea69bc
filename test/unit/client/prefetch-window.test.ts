// The worker's prefetch window: where it starts, how it follows the handlers' speed (Little's law
// over the time a delivery takes), within which bounds, and how rarely it moves; a fixed prefetch
// never moves.
import { describe, expect, test } from "bun:test";
import { PrefetchWindow } from "../../../src/client/prefetch-window.ts";

/** Feeds `count` handler durations of `ms`, 10 ms of clock apart; returns every change. */
function feed(w: PrefetchWindow, ms: number, count: number, startMs = 0): number[] {
  const changes: number[] = [];
  for (let i = 0; i < count; i++) {
    const c = w.observe(ms, startMs + i * 10);
    if (c !== null) changes.push(c);
  }
  return changes;
}

describe("PrefetchWindow", () => {
  test("starts at 4 x concurrency; a fixed prefetch is used as given and never moves", () => {
    expect(new PrefetchWindow(4, null).credits).toBe(16);
    const fixed = new PrefetchWindow(4, 7);
    expect(fixed.credits).toBe(7);
    expect(feed(fixed, 0.001, 1000)).toEqual([]);
    expect(fixed.credits).toBe(7);
  });

  test("fast handlers open it up to 1000 (or 4 x concurrency when that is more)", () => {
    const w = new PrefetchWindow(4, null);
    feed(w, 0.002, 2000);
    expect(w.credits).toBe(1000);
    const wide = new PrefetchWindow(400, null);
    feed(wide, 0.002, 2000);
    expect(wide.credits).toBe(1600);
  });

  test("slow handlers close it to about the concurrency: a task or so waits per worker, not four per slot", () => {
    const w = new PrefetchWindow(4, null);
    feed(w, 1000, 200);
    // 4 x (1 + 5 ms / 1000 ms), rounded up: one task waits.
    expect(w.credits).toBe(5);
    const one = new PrefetchWindow(1, null);
    feed(one, 60_000, 200);
    expect(one.credits).toBe(2);
  });

  test("in between, it covers what finishes while a delivery is on its way: 5 ms of the handlers' work", () => {
    const w = new PrefetchWindow(4, null);
    feed(w, 0.5, 2000);
    // 4 x (1 + 5 / 0.5) = 44.
    expect(w.credits).toBe(44);
  });

  test("a few handlers stretched by the machine's scheduling do not close a fast worker's window", () => {
    // No-op handlers (0.01 ms), one in ten measured at 5 ms because the process waited for a CPU:
    // an arithmetic mean of these is ~0.5 ms, which would give 4 x (1 + 5 / 0.5) = 44 credits.
    const w = new PrefetchWindow(4, null);
    for (let i = 0; i < 2000; i++) w.observe(i % 10 === 9 ? 5 : 0.01, i * 10);
    expect(w.credits).toBe(1000);
    // Handlers that really take 5 ms still close it, to within the factor of two it moves by of
    // 4 x (1 + 5 / 5) = 8.
    feed(w, 5, 2000, 20_000);
    expect(w.credits).toBeGreaterThanOrEqual(8);
    expect(w.credits).toBeLessThan(16);
  });

  test("it moves only by a factor of two or more, and at most every 200 ms", () => {
    const w = new PrefetchWindow(4, null);
    // 1 ms handlers: target 4 x 6 = 24, within a factor of two of 16: no change.
    expect(feed(w, 1, 100)).toEqual([]);
    const fast = new PrefetchWindow(4, null);
    const changes: number[] = [];
    for (let i = 0; i < 100; i++) {
      const c = fast.observe(0.001, i); // 1 ms of clock apart: 100 observations in 100 ms
      if (c !== null) changes.push(c);
    }
    // The first change goes at once; the average keeps falling, but the next waits 200 ms.
    expect(changes.length).toBe(1);
  });
});
