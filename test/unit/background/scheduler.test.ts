// The scheduler loop on a fake clock: tick, sleep until due (capped), poke earlier, survive a failed tick.

import { expect, test } from "bun:test";
import { Scheduler } from "../../../src/background/scheduler.ts";
import type { TickOutcome } from "../../../src/store/store.ts";
import { FakeClock } from "../../helpers/fake-clock.ts";

/** A store stand-in whose next due time the test sets; records when it was ticked. */
function fakeStore(clock: FakeClock) {
  const ticks: number[] = [];
  let nextDueMs: number | null = null;
  let failNext = false;
  return {
    ticks,
    setNextDue(ms: number | null) {
      nextDueMs = ms;
    },
    failOnce() {
      failNext = true;
    },
    async tick(nowMs: number): Promise<TickOutcome> {
      ticks.push(nowMs);
      if (failNext) {
        failNext = false;
        throw new Error("disk gone");
      }
      const due = nextDueMs !== null && nextDueMs <= nowMs ? null : nextDueMs;
      return { promoted: 0, expired: 0, expiredLeases: [], nextDueMs: due };
    },
  };
}

// Lets the tick's promise chain settle; no real time passes.
const settle = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

test("ticks at start, then sleeps until the next due work, capped at maxSleepMs", async () => {
  const clock = new FakeClock(0);
  const store = fakeStore(clock);
  const scheduler = new Scheduler({ store, clock, maxSleepMs: 1000 });
  store.setNextDue(300);
  scheduler.start();
  clock.advance(0);
  await settle();
  expect(store.ticks).toEqual([0]);
  clock.advance(299);
  await settle();
  expect(store.ticks).toEqual([0]);
  clock.advance(1);
  await settle();
  expect(store.ticks).toEqual([0, 300]);
  // Nothing due: the next tick comes after the cap.
  clock.advance(999);
  await settle();
  expect(store.ticks).toEqual([0, 300]);
  clock.advance(1);
  await settle();
  expect(store.ticks).toEqual([0, 300, 1300]);
  await scheduler.stop();
  expect(clock.pendingTimers).toBe(0);
});

test("poke wakes it earlier than its sleep, never later", async () => {
  const clock = new FakeClock(0);
  const store = fakeStore(clock);
  const scheduler = new Scheduler({ store, clock, maxSleepMs: 1000 });
  scheduler.start();
  clock.advance(0);
  await settle();
  scheduler.poke(200);
  scheduler.poke(900);
  clock.advance(200);
  await settle();
  expect(store.ticks).toEqual([0, 200]);
  scheduler.poke();
  clock.advance(0);
  await settle();
  expect(store.ticks).toEqual([0, 200, 200]);
  await scheduler.stop();
});

test("a failed tick is logged and retried after the cap; onTick sees outcomes", async () => {
  const clock = new FakeClock(0);
  const store = fakeStore(clock);
  const logged: string[] = [];
  const outcomes: TickOutcome[] = [];
  const scheduler = new Scheduler({ store, clock, maxSleepMs: 500, log: (m) => logged.push(m), onTick: (o) => outcomes.push(o) });
  store.failOnce();
  scheduler.start();
  clock.advance(0);
  await settle();
  expect(logged).toEqual(["scheduler tick failed"]);
  expect(outcomes).toHaveLength(0);
  clock.advance(500);
  await settle();
  expect(outcomes).toHaveLength(1);
  await scheduler.stop();
  clock.advance(10_000);
  await settle();
  expect(store.ticks).toHaveLength(2);
});
