// Contract cases: which task a claim gets — priority 0-255, FIFO, tiers, several queues, run_at — and the counts.
// Registered by runStoreContract; every backend runs them.

import { expect, test } from "bun:test";
import { parsePriority } from "../../src/rules/priority.ts";
import { task, type ContractContext } from "./store.contract.ts";
import { claim } from "../helpers/store-ops.ts";

export function orderingCases({ setup, claimOne }: ContractContext): void {
  test("priority order across 0-255, FIFO within one priority", async () => {
    const { clock, h, store } = await setup();
    try {
      // Every priority twice, in a shuffled (but fixed) order, so both order rules are exercised.
      const priorities: number[] = [];
      for (let round = 0; round < 2; round++) for (let p = 0; p <= 255; p++) priorities.push((p * 97 + round * 31) % 256);
      const ids = await store.submit(priorities.map((priority, i) => task({ priority, type: `t${i}` })), clock.now());
      const submitIndex = new Map(ids.map((o, i) => [o.id, i]));
      const got: { priority: number; index: number }[] = [];
      for (let i = 0; i < priorities.length; i++) {
        clock.advance(1);
        const leases = await claim(store, { queues: ["default"], workerId: "w1", max: 1 + (i % 3), nowMs: clock.now() });
        for (const l of leases) got.push({ priority: l.task.priority, index: submitIndex.get(l.task.id)! });
        if (got.length === priorities.length) break;
      }
      expect(got).toHaveLength(priorities.length);
      for (let i = 1; i < got.length; i++) {
        const a = got[i - 1]!;
        const b = got[i]!;
        expect(a.priority > b.priority || (a.priority === b.priority && a.index < b.index)).toBe(true);
      }
      expect(await claim(store, { queues: ["default"], workerId: "w1", max: 5, nowMs: clock.now() })).toEqual([]);
    } finally {
      await h.cleanup();
    }
  });

  test("tier names map to the tier defaults and order high > normal > low; counts by tier", async () => {
    const { clock, h, store } = await setup();
    try {
      expect(parsePriority("high")).toBe(255);
      expect(parsePriority("normal")).toBe(150);
      expect(parsePriority("low")).toBe(50);
      await store.submit([task({ priority: parsePriority("low") }), task({ priority: parsePriority("normal") }), task({ priority: parsePriority("high") }), task({ priority: 120 })], clock.now());
      const q = (await store.counts()).queues.find((c) => c.queue === "default")!;
      expect(q.pending).toEqual({ high: 1, normal: 2, low: 1 });
      const leases = await claim(store, { queues: ["default"], workerId: "w1", max: 10, nowMs: clock.now() });
      expect(leases.map((l) => l.task.priority)).toEqual([255, 150, 120, 50]);
    } finally {
      await h.cleanup();
    }
  });

  test("the best task wins across several queues, then the oldest", async () => {
    const { clock, h, store } = await setup();
    try {
      await store.submit([task({ queue: "a", priority: 10 })], clock.now());
      clock.advance(5);
      await store.submit([task({ queue: "b", priority: 10 }), task({ queue: "b", priority: 11 })], clock.now());
      const leases = await claim(store, { queues: ["a", "b", "missing"], workerId: "w1", max: 3, nowMs: clock.now() });
      expect(leases.map((l) => `${l.task.queue}${l.task.priority}`)).toEqual(["b11", "a10", "b10"]);
      await store.submit([task({ queue: "c" })], clock.now());
      expect(await claim(store, { queues: ["a"], workerId: "w1", max: 3, nowMs: clock.now() })).toEqual([]);
      expect(await claim(store, { queues: ["a", "c"], workerId: "w1", max: 3, nowMs: clock.now() })).toHaveLength(1);
    } finally {
      await h.cleanup();
    }
  });

  test("a delayed task is not claimable before run_at, then a tick promotes it", async () => {
    const { clock, h, store } = await setup();
    try {
      const runAtMs = clock.now() + 10_000;
      const [out] = await store.submit([task({ runAtMs })], clock.now());
      expect(out!.status).toBe("scheduled");
      expect((await store.pendingCount())).toBe(0);
      expect((await store.counts()).scheduled).toBe(1);
      clock.advance(9_999);
      const early = await store.tick(clock.now());
      expect(early).toEqual({ promoted: 0, expired: 0, expiredLeases: [], nextDueMs: runAtMs });
      expect(await claim(store, { queues: ["default"], workerId: "w1", max: 1, nowMs: clock.now() })).toEqual([]);
      clock.advance(1);
      expect((await store.tick(clock.now())).promoted).toBe(1);
      expect((await store.counts()).scheduled).toBe(0);
      const lease = await claimOne(store, clock);
      expect(lease.task.id).toBe(out!.id);
      // A run_at already past means ready now.
      const [past] = await store.submit([task({ runAtMs: clock.now() - 1 })], clock.now());
      expect(past!.status).toBe("pending");
    } finally {
      await h.cleanup();
    }
  });

  test("counts: per queue and tier, scheduled, in progress, oldest ready time", async () => {
    const { clock, h, store } = await setup();
    try {
      const t0 = clock.now();
      await store.submit([task({ queue: "a", priority: 250 }), task({ queue: "a", priority: 10 })], t0);
      clock.advance(100);
      await store.submit([task({ queue: "a", priority: 150 }), task({ queue: "b", runAtMs: clock.now() + 50 })], clock.now());
      await claimOne(store, clock, ["a"]);
      const counts = (await store.counts());
      expect(counts.pending).toBe(2);
      expect(counts.scheduled).toBe(1);
      expect(counts.inProgress).toBe(1);
      const a = counts.queues.find((q) => q.queue === "a")!;
      expect(a.pending).toEqual({ high: 0, normal: 1, low: 1 });
      expect(a.inProgress).toBe(1);
      expect(a.oldestReadyAtMs).toBe(t0);
      const b = counts.queues.find((q) => q.queue === "b")!;
      expect(b.scheduled).toBe(1);
      expect(b.oldestReadyAtMs).toBeNull();
      expect((await store.pendingCount())).toBe(2);
    } finally {
      await h.cleanup();
    }
  });
}
