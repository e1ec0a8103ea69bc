// src/clock.ts: DueTimer, the one "wake me at T" rule of the scheduler, the worker reaper and the connection
// deadlines: the earliest wake asked for wins, a later one never postpones it, sleeps are kept
// within the floor and the ceiling, and a monotonic timer ignores steps of the wall clock.
import { describe, expect, test } from "bun:test";
import { DueTimer, type DueTimerOptions } from "../../src/clock.ts";
import { FakeClock } from "../helpers/fake-clock.ts";

function timer(options: Partial<DueTimerOptions> = {}): { clock: FakeClock; t: DueTimer; fires: number[] } {
  const clock = new FakeClock(1_000_000);
  const fires: number[] = [];
  const t = new DueTimer({ clock, fire: () => fires.push(clock.now()), ...options });
  return { clock, t, fires };
}

describe("DueTimer", () => {
  test("wakes at the time asked, not before, once", () => {
    const { clock, t, fires } = timer();
    t.wakeAt(1_000_300);
    expect(t.armed).toBe(true);
    clock.advance(299);
    expect(fires).toEqual([]);
    clock.advance(1);
    expect(fires).toEqual([1_000_300]);
    expect(t.armed).toBe(false);
    clock.advance(10_000);
    expect(fires).toEqual([1_000_300]);
  });

  test("a later wake never postpones an armed earlier one; an earlier one re-arms, with one timer", () => {
    const { clock, t, fires } = timer();
    t.wakeIn(500);
    t.wakeIn(900);
    t.wakeAt(1_000_800);
    expect(clock.pendingTimers).toBe(1);
    t.wakeIn(200);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(1000);
    expect(fires).toEqual([1_000_200]);
  });

  test("the owner may re-arm from inside fire()", () => {
    const clock = new FakeClock(0);
    const fires: number[] = [];
    const t: DueTimer = new DueTimer({
      clock,
      fire: () => {
        fires.push(clock.now());
        if (fires.length < 3) t.wakeIn(100);
      },
    });
    t.wakeIn(100);
    clock.advance(1000);
    expect(fires).toEqual([100, 200, 300]);
  });

  test("sleeps are kept under the ceiling; a poke (wakeIn) is held to the floor, a due time already past fires at once", () => {
    const { clock, t, fires } = timer({ minSleepMs: 10, maxSleepMs: 1000 });
    t.wakeIn(60_000);
    clock.advance(999);
    expect(fires).toEqual([]);
    clock.advance(1);
    expect(fires).toEqual([1_001_000]);
    t.wakeIn(0);
    clock.advance(9);
    expect(fires).toHaveLength(1);
    clock.advance(1);
    expect(fires).toEqual([1_001_000, 1_001_010]);
    t.wakeAt(60_000);
    clock.advance(0);
    expect(fires).toEqual([1_001_000, 1_001_010, 1_001_010]);
  });

  test("with no floor, a wake for now fires on the next turn of the event loop without advancing time", async () => {
    const { clock, t, fires } = timer();
    t.wakeIn(0);
    expect(fires).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(fires).toEqual([clock.now()]);
  });

  test("cancel disarms; a later wake arms again", () => {
    const { clock, t, fires } = timer();
    t.wakeIn(100);
    t.cancel();
    expect(clock.pendingTimers).toBe(0);
    clock.advance(500);
    expect(fires).toEqual([]);
    t.wakeIn(900);
    clock.advance(900);
    expect(fires).toHaveLength(1);
  });

  test("on the monotonic timeline a step of the wall clock neither fires nor delays the wake", () => {
    const { clock, t, fires } = timer({ timeline: "monotonic" });
    t.wakeAt(clock.monotonicMs() + 100);
    clock.set(clock.now() + 3_600_000);
    // Asked again in monotonic terms: the step does not make it look earlier or later.
    t.wakeAt(clock.monotonicMs() + 100);
    clock.set(clock.now() - 7_200_000);
    clock.advance(99);
    expect(fires).toEqual([]);
    clock.advance(1);
    expect(fires).toHaveLength(1);
  });
});
