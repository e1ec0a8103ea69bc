// Retention passes against a stand-in store: chunk bounds, the cutoff, space reclaim, the timer (fake clock).

import { expect, test } from "bun:test";
import { startRetention } from "../../../src/background/retention.ts";
import { FakeClock } from "../../helpers/fake-clock.ts";

function target(finished: number[]) {
  const calls: { beforeMs: number; limit: number }[] = [];
  let freePages = 0;
  return {
    calls,
    reclaimed: [] as number[],
    async purgeFinished(beforeMs: number, limit: number) {
      calls.push({ beforeMs, limit });
      let n = 0;
      for (let i = finished.length - 1; i >= 0 && n < limit; i--) {
        if (finished[i]! < beforeMs) {
          finished.splice(i, 1);
          n++;
          freePages += 3;
        }
      }
      return { purged: n, done: n < limit };
    },
    async reclaimSpace(maxPages: number) {
      const n = Math.min(maxPages, freePages);
      freePages -= n;
      this.reclaimed.push(n);
      return n;
    },
  };
}

test("purges in chunks until the store says done, with the cutoff at now - retention, then reclaims space", async () => {
  const clock = new FakeClock(10 * 86_400_000);
  const finished = [...Array.from({ length: 25 }, () => 1_000), ...Array.from({ length: 5 }, () => 9.5 * 86_400_000)];
  const store = target(finished);
  const retention = startRetention({ store, clock, retentionDays: 7, intervalSecs: 3600, autoCompact: true, chunkRows: 10, chunkPages: 20 });
  const pass = await retention.runOnce();
  expect(pass).toEqual({ purged: 25, pagesFreed: 75 });
  expect(store.calls.map((c) => c.limit)).toEqual([10, 10, 10]);
  expect(store.calls[0]!.beforeMs).toBe(3 * 86_400_000);
  expect(store.reclaimed).toEqual([20, 20, 20, 15]);
  expect(finished).toHaveLength(5);
  await retention.stop();
});

test("runs every intervalSecs on the injected timers; no compaction when auto_compact is off", async () => {
  const clock = new FakeClock(30 * 86_400_000);
  const finished = [1, 2, 3];
  const store = target(finished);
  const passes: { purged: number; pagesFreed: number }[] = [];
  const retention = startRetention({ store, clock, retentionDays: 7, intervalSecs: 60, autoCompact: false, onPass: (p) => passes.push(p) });
  clock.advance(59_999);
  expect(store.calls).toHaveLength(0);
  clock.advance(1);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  expect(store.calls).toHaveLength(1);
  expect(finished).toHaveLength(0);
  expect(store.reclaimed).toEqual([]);
  expect(passes).toEqual([{ purged: 3, pagesFreed: 0 }]);
  await retention.stop();
  expect(clock.pendingTimers).toBe(0);
});
