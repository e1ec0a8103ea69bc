// Contract cases: leases — expiry and re-delivery, stale tokens, renewal, release, dead-worker reclaim.
// Registered by runStoreContract; every backend runs them.

import { expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { expectCode, task, type ContractContext } from "./store.contract.ts";
import { claim, complete, fail, list } from "../helpers/store-ops.ts";

export function leaseCases({ setup, claimOne }: ContractContext): void {
  test("leased tasks are listed as in_progress (with worker and expiry), not as pending", async () => {
    const { clock, h, store } = await setup();
    try {
      const [a, b, c] = await store.submit([task(), task(), task()], clock.now());
      const leased = await claimOne(store, clock, ["default"], "lister");
      expect(leased.task.id).toBe(a!.id);
      const running = await list(store, { status: "in_progress", limit: 10 });
      expect(running.tasks.map((t) => t.id)).toEqual([a!.id]);
      expect(running.tasks[0]).toMatchObject({ status: "in_progress", workerId: "lister", leaseExpiresAtMs: leased.expiresAtMs });
      expect((await list(store, { status: "pending", limit: 10 })).tasks.map((t) => t.id)).toEqual([b!.id, c!.id]);
      const all = await list(store, { limit: 10 });
      expect(all.tasks.map((t) => t.status)).toEqual(["in_progress", "pending", "pending"]);
      await store.release([{ id: a!.id, token: leased.token }], clock.now());
      expect((await store.get(a!.id))!.status).toBe("pending");
      expect((await list(store, { status: "in_progress", limit: 10 })).tasks).toEqual([]);
    } finally {
      await h.cleanup();
    }
  });

  test("lease expiry re-delivers with a new token; the old token is LeaseLost", async () => {
    const { clock, h, store } = await setup();
    try {
      await store.submit([task({ leaseMs: 5_000 })], clock.now());
      const first = await claimOne(store, clock);
      expect(first.expiresAtMs).toBe(clock.now() + 5_000);
      expect(first.task.status).toBe("in_progress");
      expect(first.task.workerId).toBe("w1");
      clock.advance(4_999);
      expect((await store.tick(clock.now())).expired).toBe(0);
      clock.advance(1);
      const tick = await store.tick(clock.now());
      expect(tick.expired).toBe(1);
      // The token names which lease ended: a subscription's credit is matched by it.
      expect(tick.expiredLeases).toEqual([{ id: first.task.id, token: first.token, workerId: "w1", leaseMs: 5_000, status: "pending" }]);
      const again = await claimOne(store, clock, ["default"], "w2");
      expect(again.task.id).toBe(first.task.id);
      expect(again.task.attempts).toBe(1);
      expect(again.token).not.toBe(first.token);
      await expectCode(complete(store, { id: first.task.id, token: first.token }, { result: null, resultIsJson: false }, clock.now()), ErrorCode.LeaseLost);
      await expectCode(fail(store, { id: first.task.id, token: first.token }, { error: "x", unrecoverable: false }, clock.now()), ErrorCode.LeaseLost);
      await expectCode(store.release([{ id: first.task.id, token: first.token }], clock.now()), ErrorCode.LeaseLost);
      await complete(store, { id: again.task.id, token: again.token }, { result: null, resultIsJson: false }, clock.now());
      await expectCode(complete(store, { id: again.task.id, token: again.token }, { result: null, resultIsJson: false }, clock.now()), ErrorCode.LeaseLost);
      await expectCode(complete(store, { id: "0190a000-0000-7000-8000-000000000000", token: 1 }, { result: null, resultIsJson: false }, clock.now()), ErrorCode.NotFound);
      await expectCode(complete(store, { id: "not-a-uuid", token: 1 }, { result: null, resultIsJson: false }, clock.now()), ErrorCode.NotFound);
    } finally {
      await h.cleanup();
    }
  });

  test("an expired lease with retries used up goes dead", async () => {
    const { clock, h, store } = await setup();
    try {
      const [out] = await store.submit([task({ leaseMs: 1_000, maxRetries: 0 })], clock.now());
      const held = await claimOne(store, clock);
      clock.advance(1_000);
      expect((await store.tick(clock.now())).expiredLeases).toEqual([{ id: out!.id, token: held.token, workerId: "w1", leaseMs: 1_000, status: "dead" }]);
      const dead = await store.get(out!.id);
      expect(dead!.status).toBe("dead");
      expect(dead!.attempts).toBe(1);
      expect(dead!.error).toContain("lease expired");
      expect(dead!.finishedAtMs).toBe(clock.now());
      expect((await store.pendingCount())).toBe(0);
    } finally {
      await h.cleanup();
    }
  });

  test("renew extends a lease; a stale token renews nothing", async () => {
    const { clock, h, store } = await setup();
    try {
      await store.submit([task({ leaseMs: 1_000 })], clock.now());
      const lease = await claimOne(store, clock);
      clock.advance(800);
      const [renewed, stale] = await store.renew([{ id: lease.task.id, token: lease.token }, { id: lease.task.id, token: lease.token + 1000 }], clock.now());
      expect(renewed).toBe(clock.now() + 1_000);
      expect(stale).toBeNull();
      clock.advance(300);
      expect((await store.tick(clock.now())).expired).toBe(0);
      expect((await store.get(lease.task.id))!.leaseExpiresAtMs).toBe(renewed!);
      clock.advance(700);
      expect((await store.tick(clock.now())).expired).toBe(1);
      expect(await store.renew([{ id: lease.task.id, token: lease.token }], clock.now())).toEqual([null]);
    } finally {
      await h.cleanup();
    }
  });

  test("release hands work back without counting an attempt", async () => {
    const { clock, h, store } = await setup();
    try {
      await store.submit([task(), task()], clock.now());
      const leases = await claim(store, { queues: ["default"], workerId: "w1", max: 2, nowMs: clock.now() });
      // Naming a lease twice hands it back once.
      await store.release([...leases, leases[0]!].map((l) => ({ id: l.task.id, token: l.token })), clock.now());
      expect((await store.pendingCount())).toBe(2);
      expect((await store.counts()).inProgress).toBe(0);
      const again = await claim(store, { queues: ["default"], workerId: "w2", max: 2, nowMs: clock.now() });
      expect(again.map((l) => l.task.attempts)).toEqual([0, 0]);
      // All or none: one stale ref rejects the whole call.
      await expectCode(store.release([{ id: again[0]!.task.id, token: again[0]!.token }, { id: again[1]!.task.id, token: 0 }], clock.now()), ErrorCode.LeaseLost);
      expect((await store.counts()).inProgress).toBe(2);
    } finally {
      await h.cleanup();
    }
  });

  test("reclaimWorker returns a worker's leases, counting an attempt only when it died", async () => {
    const { clock, h, store } = await setup();
    try {
      await store.submit([task({ maxRetries: 1 }), task({ maxRetries: 1 }), task({ maxRetries: 1 })], clock.now());
      const mine = await claim(store, { queues: ["default"], workerId: "dying", max: 2, nowMs: clock.now() });
      const other = await claimOne(store, clock, ["default"], "alive");
      const ids = await store.reclaimWorker("dying", true, clock.now());
      expect(ids.sort()).toEqual(mine.map((l) => l.task.id).sort());
      expect((await store.counts()).inProgress).toBe(1);
      const back = await claim(store, { queues: ["default"], workerId: "leaving", max: 2, nowMs: clock.now() });
      expect(back.map((l) => l.task.attempts)).toEqual([1, 1]);
      await store.reclaimWorker("leaving", false, clock.now());
      const again = await claim(store, { queues: ["default"], workerId: "dying2", max: 2, nowMs: clock.now() });
      expect(again.map((l) => l.task.attempts)).toEqual([1, 1]);
      await store.reclaimWorker("dying2", true, clock.now());
      expect((await store.pendingCount())).toBe(0);
      const dead = await list(store, { status: "dead", limit: 10 });
      expect(dead.tasks).toHaveLength(2);
      expect(dead.tasks[0]!.error).toContain("dying2");
      expect(await store.reclaimWorker("nobody", true, clock.now())).toEqual([]);
      await expectCode(complete(store, { id: mine[0]!.task.id, token: mine[0]!.token }, { result: null, resultIsJson: false }, clock.now()), ErrorCode.LeaseLost);
      await complete(store, { id: other.task.id, token: other.token }, { result: null, resultIsJson: false }, clock.now());
    } finally {
      await h.cleanup();
    }
  });
}
