// Contract cases: restart and recovery, clean and unclean, and a closed store.
// Registered by runStoreContract; every backend runs them.

import { expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { expectCode, task, type ContractContext } from "./store.contract.ts";
import { claim, complete, fail } from "../helpers/store-ops.ts";

export function recoveryCases({ setup }: ContractContext): void {
  test("recovery after close and reopen: every state survives, leases in flight come back ready", async () => {
    const { clock, h } = await setup();
    let store = h.store;
    try {
      const [pending, scheduled, running, done, dead] = await store.submit(
        [task({ priority: 5 }), task({ runAtMs: clock.now() + 5000 }), task({ priority: 200 }), task({ priority: 100 }), task({ priority: 90, maxRetries: 0 })],
        clock.now(),
      );
      const [runLease, doneLease, deadLease] = await claim(store, { queues: ["default"], workerId: "w1", max: 3, nowMs: clock.now() });
      expect(runLease!.task.id).toBe(running!.id);
      await complete(store, { id: done!.id, token: doneLease!.token }, { result: new Uint8Array([1]), resultIsJson: false }, clock.now());
      await fail(store, { id: dead!.id, token: deadLease!.token }, { error: "e", unrecoverable: false }, clock.now());

      store = await h.reopen();
      expect((await store.get(done!.id))!.status).toBe("completed");
      expect((await store.get(dead!.id))!.status).toBe("dead");
      expect((await store.get(scheduled!.id))!.status).toBe("scheduled");
      expect((await store.get(running!.id))!.status).toBe("pending");
      expect((await store.counts()).scheduled).toBe(1);
      expect((await store.pendingCount())).toBe(2);
      const leases = await claim(store, { queues: ["default"], workerId: "w2", max: 5, nowMs: clock.now() });
      expect(leases.map((l) => l.task.id)).toEqual([running!.id, pending!.id]);
      // Tokens are never reused across restarts, so an old worker cannot report on the new run.
      expect(leases[0]!.token).not.toBe(runLease!.token);
      await expectCode(complete(store, { id: running!.id, token: runLease!.token }, { result: null, resultIsJson: false }, clock.now()), ErrorCode.LeaseLost);
      clock.advance(5000);
      expect((await store.tick(clock.now())).promoted).toBe(1);
    } finally {
      await h.cleanup();
    }
  });

  test("recovery after an unclean stop sees every acknowledged change", async () => {
    const { clock, h, store } = await setup();
    try {
      const outs = await store.submit(Array.from({ length: 50 }, (_, i) => task({ priority: i })), clock.now());
      const leases = await claim(store, { queues: ["default"], workerId: "w1", max: 10, nowMs: clock.now() });
      for (const l of leases.slice(0, 5)) await complete(store, { id: l.task.id, token: l.token }, { result: null, resultIsJson: false }, clock.now());
      const second = await h.reopenUnclean();
      expect((await second.pendingCount())).toBe(45);
      for (const l of leases.slice(0, 5)) expect((await second.get(l.task.id))!.status).toBe("completed");
      for (const o of outs) expect(await second.get(o.id)).not.toBeNull();
      const relet = await claim(second, { queues: ["default"], workerId: "w2", max: 1, nowMs: clock.now() });
      expect(relet[0]!.task.priority).toBe(44);
      expect(leases.map((l) => l.token)).not.toContain(relet[0]!.token);
    } finally {
      await h.cleanup();
    }
  });

  test("lease tokens are never issued twice, across clean and unclean restarts, and do not follow each other", async () => {
    const { clock, h } = await setup();
    let store = h.store;
    try {
      const seen = new Set<number>();
      const claimAll = async (n: number): Promise<number[]> => {
        await store.submit(Array.from({ length: n }, () => task()), clock.now());
        const tokens: number[] = [];
        // Bounded: each round claims at least one of the n tasks and completes it.
        for (let round = 0; round < n && tokens.length < n; round++) {
          const leases = await claim(store, { queues: ["default"], workerId: "w", max: 10, nowMs: clock.now() });
          expect(leases.length).toBeGreaterThan(0);
          for (const l of leases) {
            tokens.push(l.token);
            await complete(store, { id: l.task.id, token: l.token }, { result: null, resultIsJson: false }, clock.now());
          }
        }
        return tokens;
      };
      for (const round of [() => store, () => h.reopen(), () => h.reopenUnclean(), () => h.reopen()]) {
        store = await round();
        for (const token of await claimAll(300)) {
          expect(seen.has(token)).toBe(false);
          seen.add(token);
        }
      }
      // A counter would give neighbours: a worker could guess the next token from its own.
      const sorted = [...seen].sort((a, b) => a - b);
      const neighbours = sorted.filter((t, i) => i > 0 && t - sorted[i - 1]! < 1000).length;
      expect(neighbours).toBeLessThan(10);
    } finally {
      await h.cleanup();
    }
  });

  test("a closed store refuses work with ShuttingDown", async () => {
    const { clock, h, store } = await setup();
    try {
      const pendingSubmit = store.submit([task()], clock.now());
      await store.close();
      // What was issued before close is committed by it.
      expect((await pendingSubmit)[0]!.status).toBe("pending");
      await expectCode(store.submit([task()], clock.now()), ErrorCode.ShuttingDown);
      await expectCode(claim(store, { queues: ["default"], workerId: "w", max: 1, nowMs: clock.now() }), ErrorCode.ShuttingDown);
      await store.close();
    } finally {
      await h.cleanup();
    }
  });

  test("ping resolves on a healthy store", async () => {
    const { h, store } = await setup();
    try {
      await store.ping();
    } finally {
      await h.cleanup();
    }
  });
}
