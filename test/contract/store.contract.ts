// The Store contract as one suite every backend must pass (SQLite now, PostgreSQL later), modelled
// on hono's common.case.test.ts. Time is passed explicitly from a FakeClock: no sleeps anywhere.

import { describe, expect, test } from "bun:test";
import { BrokerError, ErrorCode, type ErrorCodeValue } from "../../src/protocol/errors.ts";
import { PRIORITY_TIERS } from "../../src/protocol/limits.ts";
import type { BackoffPolicy } from "../../src/queue/backoff.ts";
import { parsePriority } from "../../src/queue/priority.ts";
import type { Lease, NewTask, ReadyListener, Store } from "../../src/store/store.ts";
import { FakeClock } from "../helpers/fake-clock.ts";

export interface StoreHarness {
  store: Store;
  /** Closes the store and opens the same storage again (clean restart). */
  reopen(): Promise<Store>;
  /** Opens the same storage again without closing the current instance (an unclean stop). */
  reopenUnclean(): Promise<Store>;
  cleanup(): Promise<void>;
}

export interface HarnessOptions {
  backoff: BackoffPolicy;
  random: () => number;
  onReady?: ReadyListener;
}

export type MakeStore = (options: HarnessOptions) => Promise<StoreHarness>;

const EXACT_BACKOFF: BackoffPolicy = { baseMs: 1000, factor: 2, maxMs: 5000, jitter: 0 };

export function task(overrides: Partial<NewTask> = {}): NewTask {
  return {
    type: "email.send",
    queue: "default",
    payload: new TextEncoder().encode('{"to":"a@example.com"}'),
    payloadIsJson: true,
    priority: PRIORITY_TIERS.normal.default,
    runAtMs: null,
    maxRetries: 3,
    leaseMs: 30_000,
    idempotencyKey: null,
    ...overrides,
  };
}

async function expectCode(p: Promise<unknown>, code: ErrorCodeValue): Promise<BrokerError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(BrokerError);
  expect((caught as BrokerError).code).toBe(code);
  return caught as BrokerError;
}

export function runStoreContract(name: string, makeStore: MakeStore): void {
  describe(`Store contract: ${name}`, () => {
    async function setup(options: Partial<HarnessOptions> = {}) {
      const clock = new FakeClock();
      const h = await makeStore({ backoff: EXACT_BACKOFF, random: () => 0.5, ...options });
      return { clock, h, store: h.store };
    }

    async function claimOne(store: Store, clock: FakeClock, queues = ["default"], workerId = "w1"): Promise<Lease> {
      const leases = await store.claim({ queues, workerId, max: 1, nowMs: clock.now() });
      expect(leases).toHaveLength(1);
      return leases[0]!;
    }

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
          const leases = await store.claim({ queues: ["default"], workerId: "w1", max: 1 + (i % 3), nowMs: clock.now() });
          for (const l of leases) got.push({ priority: l.task.priority, index: submitIndex.get(l.task.id)! });
          if (got.length === priorities.length) break;
        }
        expect(got).toHaveLength(priorities.length);
        for (let i = 1; i < got.length; i++) {
          const a = got[i - 1]!;
          const b = got[i]!;
          expect(a.priority > b.priority || (a.priority === b.priority && a.index < b.index)).toBe(true);
        }
        expect(await store.claim({ queues: ["default"], workerId: "w1", max: 5, nowMs: clock.now() })).toEqual([]);
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
        const q = store.counts().queues.find((c) => c.queue === "default")!;
        expect(q.pending).toEqual({ high: 1, normal: 2, low: 1 });
        const leases = await store.claim({ queues: ["default"], workerId: "w1", max: 10, nowMs: clock.now() });
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
        const leases = await store.claim({ queues: ["a", "b", "missing"], workerId: "w1", max: 3, nowMs: clock.now() });
        expect(leases.map((l) => `${l.task.queue}${l.task.priority}`)).toEqual(["b11", "a10", "b10"]);
        await store.submit([task({ queue: "c" })], clock.now());
        expect(await store.claim({ queues: ["a"], workerId: "w1", max: 3, nowMs: clock.now() })).toEqual([]);
        expect(store.hasReady(["a"])).toBe(false);
        expect(store.hasReady(["a", "c"])).toBe(true);
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
        expect(store.pendingCount()).toBe(0);
        expect(store.counts().scheduled).toBe(1);
        clock.advance(9_999);
        const early = await store.tick(clock.now());
        expect(early).toEqual({ promoted: 0, expired: 0, nextDueMs: runAtMs });
        expect(await store.claim({ queues: ["default"], workerId: "w1", max: 1, nowMs: clock.now() })).toEqual([]);
        clock.advance(1);
        expect((await store.tick(clock.now())).promoted).toBe(1);
        expect(store.counts().scheduled).toBe(0);
        const lease = await claimOne(store, clock);
        expect(lease.task.id).toBe(out!.id);
        // A run_at already past means ready now.
        const [past] = await store.submit([task({ runAtMs: clock.now() - 1 })], clock.now());
        expect(past!.status).toBe("pending");
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
        const again = await claimOne(store, clock, ["default"], "w2");
        expect(again.task.id).toBe(first.task.id);
        expect(again.task.attempts).toBe(1);
        expect(again.token).not.toBe(first.token);
        await expectCode(store.complete({ id: first.task.id, token: first.token }, { result: null, resultIsJson: false }, clock.now()), ErrorCode.LeaseLost);
        await expectCode(store.fail({ id: first.task.id, token: first.token }, { error: "x", unrecoverable: false }, clock.now()), ErrorCode.LeaseLost);
        await expectCode(store.release([{ id: first.task.id, token: first.token }], clock.now()), ErrorCode.LeaseLost);
        await store.complete({ id: again.task.id, token: again.token }, { result: null, resultIsJson: false }, clock.now());
        await expectCode(store.complete({ id: again.task.id, token: again.token }, { result: null, resultIsJson: false }, clock.now()), ErrorCode.LeaseLost);
        await expectCode(store.complete({ id: "0190a000-0000-7000-8000-000000000000", token: 1 }, { result: null, resultIsJson: false }, clock.now()), ErrorCode.NotFound);
        await expectCode(store.complete({ id: "not-a-uuid", token: 1 }, { result: null, resultIsJson: false }, clock.now()), ErrorCode.NotFound);
      } finally {
        await h.cleanup();
      }
    });

    test("an expired lease with retries used up goes dead", async () => {
      const { clock, h, store } = await setup();
      try {
        const [out] = await store.submit([task({ leaseMs: 1_000, maxRetries: 0 })], clock.now());
        await claimOne(store, clock);
        clock.advance(1_000);
        expect((await store.tick(clock.now())).expired).toBe(1);
        const dead = await store.get(out!.id);
        expect(dead!.status).toBe("dead");
        expect(dead!.attempts).toBe(1);
        expect(dead!.error).toContain("lease expired");
        expect(dead!.finishedAtMs).toBe(clock.now());
        expect(store.pendingCount()).toBe(0);
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

    test("failures are retried after the backoff policy's delays, then dead after max_retries", async () => {
      const { clock, h, store } = await setup();
      try {
        const [out] = await store.submit([task({ maxRetries: 3 })], clock.now());
        const expectedDelays = [1000, 2000, 4000];
        for (const delayMs of expectedDelays) {
          const lease = await claimOne(store, clock);
          const outcome = await store.fail({ id: lease.task.id, token: lease.token }, { error: `boom after ${delayMs}`, unrecoverable: false }, clock.now());
          expect(outcome.status).toBe("failed");
          expect(outcome.retryAtMs).toBe(clock.now() + delayMs);
          const failed = await store.get(out!.id);
          expect(failed!.status).toBe("failed");
          expect(failed!.error).toBe(`boom after ${delayMs}`);
          expect(store.counts().scheduled).toBe(1);
          clock.advance(delayMs - 1);
          expect((await store.tick(clock.now())).promoted).toBe(0);
          expect(store.hasReady(["default"])).toBe(false);
          clock.advance(1);
          expect((await store.tick(clock.now())).promoted).toBe(1);
        }
        const last = await claimOne(store, clock);
        expect(last.task.attempts).toBe(3);
        const outcome = await store.fail({ id: last.task.id, token: last.token }, { error: "final", unrecoverable: false }, clock.now());
        expect(outcome).toEqual({ status: "dead", retryAtMs: null, attempts: 4 });
        const dead = await store.get(out!.id);
        expect(dead!.status).toBe("dead");
        expect(dead!.error).toBe("final");
      } finally {
        await h.cleanup();
      }
    });

    test("the backoff cap holds and an unrecoverable failure skips the retries", async () => {
      const { clock, h, store } = await setup();
      try {
        await store.submit([task({ maxRetries: 10 })], clock.now());
        let lease = await claimOne(store, clock);
        for (let attempt = 1; attempt <= 5; attempt++) {
          const outcome = await store.fail({ id: lease.task.id, token: lease.token }, { error: "e", unrecoverable: false }, clock.now());
          expect(outcome.retryAtMs! - clock.now()).toBe(Math.min(5000, 1000 * 2 ** (attempt - 1)));
          clock.advance(outcome.retryAtMs! - clock.now());
          await store.tick(clock.now());
          lease = await claimOne(store, clock);
        }
        const outcome = await store.fail({ id: lease.task.id, token: lease.token }, { error: "bad input", unrecoverable: true }, clock.now());
        expect(outcome.status).toBe("dead");
      } finally {
        await h.cleanup();
      }
    });

    test("jitter only shortens the delay, deterministically for an injected random", async () => {
      const { clock, h, store } = await setup({ backoff: { baseMs: 1000, factor: 2, maxMs: 60_000, jitter: 0.5 }, random: () => 1 });
      try {
        await store.submit([task()], clock.now());
        const lease = await claimOne(store, clock);
        const outcome = await store.fail({ id: lease.task.id, token: lease.token }, { error: "e", unrecoverable: false }, clock.now());
        expect(outcome.retryAtMs! - clock.now()).toBe(500);
      } finally {
        await h.cleanup();
      }
    });

    test("a dead task can be re-run with attempts reset; only dead or cancelled ones", async () => {
      const { clock, h, store } = await setup();
      try {
        const [out] = await store.submit([task({ maxRetries: 0 })], clock.now());
        await expectCode(store.retry(out!.id, clock.now()), ErrorCode.InvalidState);
        const lease = await claimOne(store, clock);
        await store.fail({ id: lease.task.id, token: lease.token }, { error: "e", unrecoverable: false }, clock.now());
        expect((await store.get(out!.id))!.status).toBe("dead");
        const rerun = await store.retry(out!.id, clock.now());
        expect(rerun.status).toBe("pending");
        expect(rerun.attempts).toBe(0);
        expect(rerun.finishedAtMs).toBeNull();
        expect(store.pendingCount()).toBe(1);
        const again = await claimOne(store, clock);
        expect(again.task.id).toBe(out!.id);
        expect(again.token).toBeGreaterThan(lease.token);
        await expectCode(store.retry("0190a000-0000-7000-8000-000000000000", clock.now()), ErrorCode.NotFound);
      } finally {
        await h.cleanup();
      }
    });

    test("cancel: pending, scheduled and failed yes; in_progress and completed no (InvalidState)", async () => {
      const { clock, h, store } = await setup();
      try {
        const [pending, scheduled, running, failing] = await store.submit(
          [task({ priority: 1 }), task({ runAtMs: clock.now() + 60_000 }), task({ priority: 200, leaseMs: 3_600_000 }), task({ priority: 100 })],
          clock.now(),
        );
        const lease = await claimOne(store, clock);
        expect(lease.task.id).toBe(running!.id);
        const failLease = await claimOne(store, clock);
        expect(failLease.task.id).toBe(failing!.id);
        await store.fail({ id: failLease.task.id, token: failLease.token }, { error: "e", unrecoverable: false }, clock.now());

        const cancelled = await store.cancel(pending!.id, clock.now());
        expect(cancelled.status).toBe("cancelled");
        expect(cancelled.finishedAtMs).toBe(clock.now());
        expect((await store.cancel(scheduled!.id, clock.now())).status).toBe("cancelled");
        expect((await store.cancel(failing!.id, clock.now())).status).toBe("cancelled");
        const err = await expectCode(store.cancel(running!.id, clock.now()), ErrorCode.InvalidState);
        expect(err.message).toContain("in_progress");
        await expectCode(store.cancel(pending!.id, clock.now()), ErrorCode.InvalidState);
        await expectCode(store.cancel("0190a000-0000-7000-8000-000000000000", clock.now()), ErrorCode.NotFound);

        expect(store.pendingCount()).toBe(0);
        expect(store.counts().scheduled).toBe(0);
        clock.advance(120_000);
        expect((await store.tick(clock.now())).promoted).toBe(0);
        expect(await store.claim({ queues: ["default"], workerId: "w1", max: 10, nowMs: clock.now() })).toEqual([]);

        // A cancelled task re-run goes back to the ready set once, not twice.
        await store.retry(pending!.id, clock.now());
        expect(store.pendingCount()).toBe(1);
        const rerun = await store.claim({ queues: ["default"], workerId: "w1", max: 10, nowMs: clock.now() });
        expect(rerun.map((l) => l.task.id)).toEqual([pending!.id]);
      } finally {
        await h.cleanup();
      }
    });

    test("idempotency: across calls, within one batch and within one group commit", async () => {
      const { clock, h, store } = await setup();
      try {
        const [first] = await store.submit([task({ idempotencyKey: "order-1" })], clock.now());
        const [second] = await store.submit([task({ idempotencyKey: "order-1", type: "other" })], clock.now());
        expect(first!.duplicate).toBe(false);
        expect(second).toEqual({ id: first!.id, status: "pending", duplicate: true });

        const batch = await store.submit([task({ idempotencyKey: "order-2" }), task({ idempotencyKey: "order-2" }), task({ idempotencyKey: null }), task({ idempotencyKey: null })], clock.now());
        expect(batch[1]!.id).toBe(batch[0]!.id);
        expect(batch[1]!.duplicate).toBe(true);
        expect(batch[2]!.id).not.toBe(batch[3]!.id);

        // Not awaited in between: both calls land in the same group commit.
        const [a, b] = await Promise.all([store.submit([task({ idempotencyKey: "order-3" })], clock.now()), store.submit([task({ idempotencyKey: "order-3" })], clock.now())]);
        expect(b![0]!.id).toBe(a![0]!.id);
        expect(b![0]!.duplicate).toBe(true);
        expect(store.pendingCount()).toBe(5);

        // The key holds while the task is retained, whatever its status; purge frees it.
        const leases = await store.claim({ queues: ["default"], workerId: "w1", max: 10, nowMs: clock.now() });
        for (const l of leases) await store.complete({ id: l.task.id, token: l.token }, { result: null, resultIsJson: false }, clock.now());
        const [held] = await store.submit([task({ idempotencyKey: "order-1" })], clock.now());
        expect(held).toEqual({ id: first!.id, status: "completed", duplicate: true });
        clock.advance(1);
        expect(await store.purgeFinished(clock.now(), 100)).toBe(5);
        const [fresh] = await store.submit([task({ idempotencyKey: "order-1" })], clock.now());
        expect(fresh!.duplicate).toBe(false);
        expect(fresh!.id).not.toBe(first!.id);
      } finally {
        await h.cleanup();
      }
    });

    test("results and errors are kept on the task", async () => {
      const { clock, h, store } = await setup();
      try {
        const [ok, bytes, bad] = await store.submit([task(), task(), task({ maxRetries: 0 })], clock.now());
        const leases = await store.claim({ queues: ["default"], workerId: "w9", max: 3, nowMs: clock.now() });
        clock.advance(42);
        const info = await store.complete({ id: ok!.id, token: leases[0]!.token }, { result: new TextEncoder().encode('{"sent":true}'), resultIsJson: true }, clock.now());
        expect(info).toEqual({ queue: "default", startedAtMs: clock.now() - 42 });
        await store.complete({ id: bytes!.id, token: leases[1]!.token }, { result: new Uint8Array([0, 255, 7]), resultIsJson: false }, clock.now());
        await store.fail({ id: bad!.id, token: leases[2]!.token }, { error: "SMTP 550: mailbox unavailable", unrecoverable: false }, clock.now());
        const t1 = (await store.get(ok!.id))!;
        expect(t1.status).toBe("completed");
        expect(new TextDecoder().decode(t1.result!)).toBe('{"sent":true}');
        expect(t1.resultIsJson).toBe(true);
        expect(t1.payloadIsJson).toBe(true);
        expect(t1.workerId).toBe("w9");
        expect(t1.finishedAtMs).toBe(clock.now());
        expect(t1.startedAtMs).toBe(clock.now() - 42);
        const t2 = (await store.get(bytes!.id))!;
        expect([...t2.result!]).toEqual([0, 255, 7]);
        expect(t2.resultIsJson).toBe(false);
        const t3 = (await store.get(bad!.id))!;
        expect(t3.status).toBe("dead");
        expect(t3.error).toBe("SMTP 550: mailbox unavailable");
        expect(await store.get("0190a000-0000-7000-8000-000000000000")).toBeNull();
        expect(await store.get("nonsense")).toBeNull();
      } finally {
        await h.cleanup();
      }
    });

    test("retention purge deletes old finished tasks in bounded chunks and nothing else", async () => {
      const { clock, h, store } = await setup();
      try {
        const outs = await store.submit(Array.from({ length: 7 }, () => task({ maxRetries: 0 })), clock.now());
        const leases = await store.claim({ queues: ["default"], workerId: "w1", max: 4, nowMs: clock.now() });
        await store.complete({ id: leases[0]!.task.id, token: leases[0]!.token }, { result: null, resultIsJson: false }, clock.now());
        await store.complete({ id: leases[1]!.task.id, token: leases[1]!.token }, { result: null, resultIsJson: false }, clock.now());
        await store.fail({ id: leases[2]!.task.id, token: leases[2]!.token }, { error: "x", unrecoverable: true }, clock.now());
        await store.cancel(outs[6]!.id, clock.now());
        const cutoff = clock.now() + 1;
        clock.advance(10);
        await store.complete({ id: leases[3]!.task.id, token: leases[3]!.token }, { result: null, resultIsJson: false }, clock.now());
        expect(await store.purgeFinished(cutoff, 3)).toBe(3);
        expect(await store.purgeFinished(cutoff, 3)).toBe(1);
        expect(await store.purgeFinished(cutoff, 3)).toBe(0);
        const left = await store.list({ limit: 100 });
        expect(left.tasks.map((t) => t.status).sort()).toEqual(["completed", "pending", "pending"]);
      } finally {
        await h.cleanup();
      }
    });

    test("release hands work back without counting an attempt", async () => {
      const { clock, h, store } = await setup();
      try {
        await store.submit([task(), task()], clock.now());
        const leases = await store.claim({ queues: ["default"], workerId: "w1", max: 2, nowMs: clock.now() });
        await store.release(leases.map((l) => ({ id: l.task.id, token: l.token })), clock.now());
        expect(store.pendingCount()).toBe(2);
        expect(store.counts().inProgress).toBe(0);
        const again = await store.claim({ queues: ["default"], workerId: "w2", max: 2, nowMs: clock.now() });
        expect(again.map((l) => l.task.attempts)).toEqual([0, 0]);
        // All or none: one stale ref rejects the whole call.
        await expectCode(store.release([{ id: again[0]!.task.id, token: again[0]!.token }, { id: again[1]!.task.id, token: 0 }], clock.now()), ErrorCode.LeaseLost);
        expect(store.counts().inProgress).toBe(2);
      } finally {
        await h.cleanup();
      }
    });

    test("reclaimWorker returns a worker's leases, counting an attempt only when it died", async () => {
      const { clock, h, store } = await setup();
      try {
        await store.submit([task({ maxRetries: 1 }), task({ maxRetries: 1 }), task({ maxRetries: 1 })], clock.now());
        const mine = await store.claim({ queues: ["default"], workerId: "dying", max: 2, nowMs: clock.now() });
        const other = await claimOne(store, clock, ["default"], "alive");
        const ids = await store.reclaimWorker("dying", true, clock.now());
        expect(ids.sort()).toEqual(mine.map((l) => l.task.id).sort());
        expect(store.counts().inProgress).toBe(1);
        const back = await store.claim({ queues: ["default"], workerId: "leaving", max: 2, nowMs: clock.now() });
        expect(back.map((l) => l.task.attempts)).toEqual([1, 1]);
        await store.reclaimWorker("leaving", false, clock.now());
        const again = await store.claim({ queues: ["default"], workerId: "dying2", max: 2, nowMs: clock.now() });
        expect(again.map((l) => l.task.attempts)).toEqual([1, 1]);
        await store.reclaimWorker("dying2", true, clock.now());
        expect(store.pendingCount()).toBe(0);
        const dead = await store.list({ status: "dead", limit: 10 });
        expect(dead.tasks).toHaveLength(2);
        expect(dead.tasks[0]!.error).toContain("dying2");
        expect(await store.reclaimWorker("nobody", true, clock.now())).toEqual([]);
        await expectCode(store.complete({ id: mine[0]!.task.id, token: mine[0]!.token }, { result: null, resultIsJson: false }, clock.now()), ErrorCode.LeaseLost);
        await store.complete({ id: other.task.id, token: other.token }, { result: null, resultIsJson: false }, clock.now());
      } finally {
        await h.cleanup();
      }
    });

    test("list filters by status, queue and type, oldest first, with pagination", async () => {
      const { clock, h, store } = await setup();
      try {
        const outs = await store.submit(
          Array.from({ length: 25 }, (_, i) => task({ queue: i % 2 === 0 ? "even" : "odd", type: i % 5 === 0 ? "five" : "other", runAtMs: i >= 20 ? clock.now() + 1000 : null })),
          clock.now(),
        );
        const seen: string[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < 10; page++) {
          const res = await store.list({ limit: 7, ...(cursor === undefined ? {} : { cursor }) });
          seen.push(...res.tasks.map((t) => t.id));
          if (res.nextCursor === null) break;
          cursor = res.nextCursor;
        }
        expect(seen).toEqual(outs.map((o) => o.id));
        expect((await store.list({ queue: "even", limit: 100 })).tasks).toHaveLength(13);
        expect((await store.list({ type: "five", queue: "odd", limit: 100 })).tasks).toHaveLength(2);
        expect((await store.list({ status: "scheduled", limit: 100 })).tasks.map((t) => t.id)).toEqual(outs.slice(20).map((o) => o.id));
        const full = await store.list({ status: "pending", limit: 20 });
        expect(full.tasks).toHaveLength(20);
        expect(full.nextCursor).toBeNull();
        await expectCode(store.list({ limit: 5, cursor: "garbage" }), ErrorCode.InvalidField);
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
        const counts = store.counts();
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
        expect(store.pendingCount()).toBe(2);
      } finally {
        await h.cleanup();
      }
    });

    test("onReady is told after commit when tasks become ready", async () => {
      const readied: string[] = [];
      const { clock, h, store } = await setup({ onReady: (q) => readied.push(q) });
      try {
        await store.submit([task({ queue: "x" }), task({ queue: "x" }), task({ queue: "y", runAtMs: clock.now() + 10 })], clock.now());
        expect(readied).toEqual(["x"]);
        clock.advance(10);
        await store.tick(clock.now());
        expect(readied).toEqual(["x", "y"]);
      } finally {
        await h.cleanup();
      }
    });

    test("recovery after close and reopen: every state survives, leases in flight come back ready", async () => {
      const { clock, h } = await setup();
      let store = h.store;
      try {
        const [pending, scheduled, running, done, dead] = await store.submit(
          [task({ priority: 5 }), task({ runAtMs: clock.now() + 5000 }), task({ priority: 200 }), task({ priority: 100 }), task({ priority: 90, maxRetries: 0 })],
          clock.now(),
        );
        const [runLease, doneLease, deadLease] = await store.claim({ queues: ["default"], workerId: "w1", max: 3, nowMs: clock.now() });
        expect(runLease!.task.id).toBe(running!.id);
        await store.complete({ id: done!.id, token: doneLease!.token }, { result: new Uint8Array([1]), resultIsJson: false }, clock.now());
        await store.fail({ id: dead!.id, token: deadLease!.token }, { error: "e", unrecoverable: false }, clock.now());

        store = await h.reopen();
        expect((await store.get(done!.id))!.status).toBe("completed");
        expect((await store.get(dead!.id))!.status).toBe("dead");
        expect((await store.get(scheduled!.id))!.status).toBe("scheduled");
        expect((await store.get(running!.id))!.status).toBe("pending");
        expect(store.counts().scheduled).toBe(1);
        expect(store.pendingCount()).toBe(2);
        const leases = await store.claim({ queues: ["default"], workerId: "w2", max: 5, nowMs: clock.now() });
        expect(leases.map((l) => l.task.id)).toEqual([running!.id, pending!.id]);
        // Tokens are never reused across restarts, so an old worker cannot report on the new run.
        expect(leases[0]!.token).toBeGreaterThan(runLease!.token);
        await expectCode(store.complete({ id: running!.id, token: runLease!.token }, { result: null, resultIsJson: false }, clock.now()), ErrorCode.LeaseLost);
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
        const leases = await store.claim({ queues: ["default"], workerId: "w1", max: 10, nowMs: clock.now() });
        for (const l of leases.slice(0, 5)) await store.complete({ id: l.task.id, token: l.token }, { result: null, resultIsJson: false }, clock.now());
        const second = await h.reopenUnclean();
        expect(second.pendingCount()).toBe(45);
        for (const l of leases.slice(0, 5)) expect((await second.get(l.task.id))!.status).toBe("completed");
        for (const o of outs) expect(await second.get(o.id)).not.toBeNull();
        const relet = await second.claim({ queues: ["default"], workerId: "w2", max: 1, nowMs: clock.now() });
        expect(relet[0]!.task.priority).toBe(44);
        expect(relet[0]!.token).toBeGreaterThan(Math.max(...leases.map((l) => l.token)));
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
        await expectCode(store.claim({ queues: ["default"], workerId: "w", max: 1, nowMs: clock.now() }), ErrorCode.ShuttingDown);
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
  });
}
