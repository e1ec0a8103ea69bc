// Contract cases: the events a store sends after each commit (ready, finished, due), and that what
// a failure leads to follows the retry policy the store was opened with (rules/transitions.ts),
// not numbers of its own. The broker wakes claims and result waits from these events only.

import { expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/errors.ts";
import type { WorkerPresence } from "../../src/store/cluster.ts";
import { claim, complete, fail } from "../helpers/store-ops.ts";
import { expectCode, task, type ContractContext } from "./store.contract.ts";

export function eventsCases({ setup, claimOne }: ContractContext): void {
  test("a submit announces its ready tasks per queue with their count once committed, and a delayed one as due", async () => {
    const { clock, h, store, events } = await setup();
    try {
      const submitted = store.submit([task({ queue: "x" }), task({ queue: "x" }), task({ queue: "y" }), task({ queue: "z", runAtMs: clock.now() + 500 })], clock.now());
      expect(events.readied).toEqual([]);
      await submitted;
      expect(events.readyCounts()).toEqual({ x: 2, y: 1 });
      expect(events.dues).toContain(clock.now() + 500);
      clock.advance(500);
      events.clear();
      expect((await store.tick(clock.now())).promoted).toBe(1);
      expect(events.readyCounts()).toEqual({ z: 1 });
    } finally {
      await h.cleanup();
    }
  });

  test("a hand-back, an expiry with retries left, a dead worker's task with retries left and a re-run announce ready", async () => {
    const { clock, h, store, events } = await setup();
    try {
      await store.submit([task({ queue: "q", leaseMs: 1000 }), task({ queue: "q", leaseMs: 1000 }), task({ queue: "q", leaseMs: 60_000 })], clock.now());
      const [a, b, c] = await claim(store, { queues: ["q"], workerId: "w1", max: 3, nowMs: clock.now() });
      events.clear();
      await store.release([{ id: a!.task.id, token: a!.token }], clock.now());
      expect(events.readyCounts()).toEqual({ q: 1 });
      events.clear();
      clock.advance(1000);
      const tick = await store.tick(clock.now());
      expect(tick.expiredLeases.map((l) => l.id)).toEqual([b!.task.id]);
      expect(events.readyCounts()).toEqual({ q: 1 });
      events.clear();
      expect(await store.reclaimWorker("w1", true, clock.now())).toEqual([c!.task.id]);
      expect(events.readyCounts()).toEqual({ q: 1 });
      const cancelled = await store.cancel(a!.task.id, clock.now());
      expect(cancelled.task.status).toBe("cancelled");
      events.clear();
      await store.retry(a!.task.id, clock.now());
      expect(events.readyCounts()).toEqual({ q: 1 });
    } finally {
      await h.cleanup();
    }
  });

  test("completed, dead by every path and cancelled (pending or running) are announced finished, once each", async () => {
    const { clock, h, store, events } = await setup();
    try {
      const ids = (
        await store.submit(
          [
            task({ type: "ok" }),
            task({ type: "unrecoverable" }),
            task({ type: "last-failure", maxRetries: 0 }),
            task({ type: "expiry", maxRetries: 0, leaseMs: 1000 }),
            task({ type: "worker-lost", maxRetries: 0, leaseMs: 60_000 }),
            task({ type: "cancel-running", leaseMs: 60_000 }),
            task({ type: "cancel-pending" }),
          ],
          clock.now(),
        )
      ).map((o) => o.id);
      const leases = await claim(store, { queues: ["default"], workerId: "w1", max: 6, nowMs: clock.now() });
      const byType = new Map(leases.map((l) => [l.task.type, l]));
      const ref = (type: string) => ({ id: byType.get(type)!.task.id, token: byType.get(type)!.token });
      events.clear();
      await complete(store, ref("ok"), { result: null, resultIsJson: false }, clock.now());
      await fail(store, ref("unrecoverable"), { error: "bad", unrecoverable: true }, clock.now());
      await fail(store, ref("last-failure"), { error: "bad", unrecoverable: false }, clock.now());
      expect((await store.cancel(ref("cancel-running").id, clock.now())).endedLease).not.toBeNull();
      await store.cancel(ids[6]!, clock.now());
      await store.reclaimWorker("w2", true, clock.now()); // holds nothing: announces nothing
      clock.advance(1000);
      await store.tick(clock.now());
      // w1 still holds "worker-lost" (its lease runs 60 s): the worker dies now.
      await store.reclaimWorker("w1", true, clock.now());
      const ended = events.ended.map((e) => `${e.status}:${e.id === ids[6] ? "cancel-pending" : leases.find((l) => l.task.id === e.id)!.task.type}`);
      expect(ended.sort()).toEqual(
        ["completed:ok", "dead:unrecoverable", "dead:last-failure", "cancelled:cancel-running", "cancelled:cancel-pending", "dead:expiry", "dead:worker-lost"].sort(),
      );
      expect(events.ended.every((e) => e.queue === "default")).toBe(true);
      // A failure with retries left is not finished.
      events.clear();
      await store.submit([task({ type: "retry-left" })], clock.now());
      const retry = await claimOne(store, clock);
      await fail(store, { id: retry.task.id, token: retry.token }, { error: "again", unrecoverable: false }, clock.now());
      expect(events.ended).toEqual([]);
    } finally {
      await h.cleanup();
    }
  });

  test("an item refused (stale token) announces nothing; a claim's lease and a failure's retry are announced due", async () => {
    const { clock, h, store, events } = await setup();
    try {
      await store.submit([task({ leaseMs: 5000 })], clock.now());
      events.clear();
      const lease = await claimOne(store, clock);
      expect(events.dues).toContain(clock.now() + 5000);
      await expectCode(complete(store, { id: lease.task.id, token: lease.token + 1 }, { result: null, resultIsJson: false }, clock.now()), ErrorCode.LeaseLost);
      expect(events.ended).toEqual([]);
      const outcome = await fail(store, { id: lease.task.id, token: lease.token }, { error: "e", unrecoverable: false }, clock.now());
      expect(events.dues).toContain(outcome.retryAtMs!);
    } finally {
      await h.cleanup();
    }
  });

  test("what a failure leads to follows the policy the store was opened with: other numbers, other retry times and deaths", async () => {
    const { clock, h, store } = await setup({ retry: { backoff: { baseMs: 7000, factor: 3, maxMs: 50_000, jitter: 0 }, random: () => 0 } });
    try {
      await store.submit([task({ maxRetries: 3 })], clock.now());
      const delays: number[] = [];
      for (let i = 0; i < 3; i++) {
        const lease = await claimOne(store, clock);
        const outcome = await fail(store, { id: lease.task.id, token: lease.token }, { error: "e", unrecoverable: false }, clock.now());
        expect(outcome.status).toBe("failed");
        delays.push(outcome.retryAtMs! - clock.now());
        clock.advance(outcome.retryAtMs! - clock.now());
        await store.tick(clock.now());
      }
      // 7 s, then x3 = 21 s, then 63 s capped at 50 s.
      expect(delays).toEqual([7000, 21_000, 50_000]);
      const last = await claimOne(store, clock);
      expect(await fail(store, { id: last.task.id, token: last.token }, { error: "e", unrecoverable: false }, clock.now())).toEqual({
        status: "dead",
        queue: "default",
        retryAtMs: null,
        attempts: 4,
      });
    } finally {
      await h.cleanup();
    }
  });

  test("an operator's command for a worker no other broker has seen goes nowhere: not passed on, no workerCommand event", async () => {
    const { clock, h, store, events } = await setup();
    try {
      // A store of one broker (SQLite) has no other broker to pass it to and offers no forwarding;
      // a store shared by brokers answers null for a worker none of them saw (the broker then says NotFound).
      const presence = store as Partial<WorkerPresence>;
      if (presence.forwardWorkerCommand !== undefined) {
        expect(await presence.forwardWorkerCommand("never-seen", "quiet", clock.now() - 60_000)).toBeNull();
        expect(await presence.forwardWorkerCommand("never-seen", "shutdown", 0)).toBeNull();
      }
      await store.submit([task({ queue: "wc" })], clock.now());
      expect(events.workerCommands).toEqual([]);
    } finally {
      await h.cleanup();
    }
  });
}
