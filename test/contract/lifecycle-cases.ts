// Contract cases: a task's life after a run — retries and backoff, dead, re-run, cancel, idempotency, results, retention, list.
// Registered by runStoreContract; every backend runs them.

import { expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { MAX_PAYLOAD_BYTES, MAX_TASK_DATA_BYTES } from "../../src/protocol/limits.ts";
import { expectCode, task, type ContractContext } from "./store.contract.ts";
import { claim, complete, fail, list } from "../helpers/store-ops.ts";

export function lifecycleCases({ setup, claimOne }: ContractContext): void {
  test("a task's payload + result + error stay within MAX_TASK_DATA_BYTES: a result over it is refused, an error cut", async () => {
    const { clock, h, store } = await setup();
    try {
      const payload = new Uint8Array(MAX_PAYLOAD_BYTES);
      const [big, other] = await store.submit([task({ payload, maxRetries: 0 }), task({ payload, maxRetries: 0 })], clock.now());
      const lease = await claimOne(store, clock);
      const room = MAX_TASK_DATA_BYTES - MAX_PAYLOAD_BYTES;
      const refused = await expectCode(
        complete(store, { id: big!.id, token: lease.token }, { result: new Uint8Array(room + 1), resultIsJson: false }, clock.now()),
        ErrorCode.InvalidField,
      );
      expect(refused.field).toBe("result");
      // Refused whole, in a batch too: the lease still holds and a result that fits is taken.
      const [item] = await store.report([{ lease: { id: big!.id, token: lease.token }, completed: { result: new Uint8Array(room + 1), resultIsJson: false } }], clock.now());
      expect(item).toMatchObject({ ok: false, error: { code: ErrorCode.InvalidField } });
      await complete(store, { id: big!.id, token: lease.token }, { result: new Uint8Array(room), resultIsJson: false }, clock.now());
      expect((await store.get(big!.id))!.result!.byteLength).toBe(room);
      const second = await claimOne(store, clock);
      await fail(store, { id: other!.id, token: second.token }, { error: "é".repeat(40_000), unrecoverable: false }, clock.now());
      expect((await store.get(other!.id))!.error).toBe("é".repeat(room / 2));
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
        const outcome = await fail(store, { id: lease.task.id, token: lease.token }, { error: `boom after ${delayMs}`, unrecoverable: false }, clock.now());
        expect(outcome.status).toBe("failed");
        expect(outcome.retryAtMs).toBe(clock.now() + delayMs);
        const failed = await store.get(out!.id);
        expect(failed!.status).toBe("failed");
        expect(failed!.error).toBe(`boom after ${delayMs}`);
        expect((await store.counts()).scheduled).toBe(1);
        clock.advance(delayMs - 1);
        expect((await store.tick(clock.now())).promoted).toBe(0);
        expect(await claim(store, { queues: ["default"], workerId: "w1", max: 1, nowMs: clock.now() })).toEqual([]);
        clock.advance(1);
        expect((await store.tick(clock.now())).promoted).toBe(1);
      }
      const last = await claimOne(store, clock);
      expect(last.task.attempts).toBe(3);
      const outcome = await fail(store, { id: last.task.id, token: last.token }, { error: "final", unrecoverable: false }, clock.now());
      expect(outcome).toEqual({ status: "dead", queue: "default", retryAtMs: null, attempts: 4 });
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
        const outcome = await fail(store, { id: lease.task.id, token: lease.token }, { error: "e", unrecoverable: false }, clock.now());
        expect(outcome.retryAtMs! - clock.now()).toBe(Math.min(5000, 1000 * 2 ** (attempt - 1)));
        clock.advance(outcome.retryAtMs! - clock.now());
        await store.tick(clock.now());
        lease = await claimOne(store, clock);
      }
      const outcome = await fail(store, { id: lease.task.id, token: lease.token }, { error: "bad input", unrecoverable: true }, clock.now());
      expect(outcome.status).toBe("dead");
    } finally {
      await h.cleanup();
    }
  });

  test("jitter only shortens the delay, deterministically for an injected random", async () => {
    const { clock, h, store } = await setup({ retry: { backoff: { baseMs: 1000, factor: 2, maxMs: 60_000, jitter: 0.5 }, random: () => 1 } });
    try {
      await store.submit([task()], clock.now());
      const lease = await claimOne(store, clock);
      const outcome = await fail(store, { id: lease.task.id, token: lease.token }, { error: "e", unrecoverable: false }, clock.now());
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
      await fail(store, { id: lease.task.id, token: lease.token }, { error: "e", unrecoverable: false }, clock.now());
      expect((await store.get(out!.id))!.status).toBe("dead");
      const rerun = await store.retry(out!.id, clock.now());
      expect(rerun.status).toBe("pending");
      expect(rerun.attempts).toBe(0);
      expect(rerun.finishedAtMs).toBeNull();
      expect((await store.pendingCount())).toBe(1);
      const again = await claimOne(store, clock);
      expect(again.task.id).toBe(out!.id);
      expect(again.token).not.toBe(lease.token);
      await expectCode(complete(store, { id: out!.id, token: lease.token }, { result: null, resultIsJson: false }, clock.now()), ErrorCode.LeaseLost);
      await expectCode(store.retry("0190a000-0000-7000-8000-000000000000", clock.now()), ErrorCode.NotFound);
    } finally {
      await h.cleanup();
    }
  });

  test("cancel: pending, scheduled, failed and in_progress yes, ending a running task's lease; finished no (InvalidState)", async () => {
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
      await fail(store, { id: failLease.task.id, token: failLease.token }, { error: "e", unrecoverable: false }, clock.now());

      const cancelled = await store.cancel(pending!.id, clock.now());
      expect(cancelled.task.status).toBe("cancelled");
      expect(cancelled.task.finishedAtMs).toBe(clock.now());
      expect(cancelled.endedLease).toBeNull();
      expect((await store.cancel(scheduled!.id, clock.now())).task.status).toBe("cancelled");
      expect((await store.cancel(failing!.id, clock.now())).task.status).toBe("cancelled");

      clock.advance(10);
      const stopped = await store.cancel(running!.id, clock.now());
      expect(stopped.task).toMatchObject({ status: "cancelled", workerId: "w1", attempts: 0, finishedAtMs: clock.now(), leaseExpiresAtMs: null });
      expect(stopped.endedLease).toEqual({ token: lease.token, workerId: "w1" });
      expect((await store.counts()).inProgress).toBe(0);
      // The lease ended with it: the worker's late result, renewal or hand-back changes nothing.
      await expectCode(complete(store, { id: running!.id, token: lease.token }, { result: null, resultIsJson: false }, clock.now()), ErrorCode.LeaseLost);
      expect(await store.renew([{ id: running!.id, token: lease.token }], clock.now())).toEqual([null]);
      await expectCode(store.release([{ id: running!.id, token: lease.token }], clock.now()), ErrorCode.LeaseLost);
      expect((await store.get(running!.id))!.status).toBe("cancelled");
      const err = await expectCode(store.cancel(running!.id, clock.now()), ErrorCode.InvalidState);
      expect(err.message).toContain("cancelled");
      await expectCode(store.cancel(pending!.id, clock.now()), ErrorCode.InvalidState);
      await expectCode(store.cancel("0190a000-0000-7000-8000-000000000000", clock.now()), ErrorCode.NotFound);

      expect((await store.pendingCount())).toBe(0);
      expect((await store.counts()).scheduled).toBe(0);
      clock.advance(3_700_000);
      const tick = await store.tick(clock.now());
      expect(tick).toMatchObject({ promoted: 0, expired: 0 });
      expect(await claim(store, { queues: ["default"], workerId: "w1", max: 10, nowMs: clock.now() })).toEqual([]);

      // A cancelled task re-run goes back to the ready set once, not twice.
      await store.retry(pending!.id, clock.now());
      await store.retry(running!.id, clock.now());
      expect((await store.pendingCount())).toBe(2);
      const rerun = await claim(store, { queues: ["default"], workerId: "w1", max: 10, nowMs: clock.now() });
      expect(rerun.map((l) => l.task.id)).toEqual([running!.id, pending!.id]);
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
      expect(second).toMatchObject({ id: first!.id, status: "pending", duplicate: true });

      const batch = await store.submit([task({ idempotencyKey: "order-2" }), task({ idempotencyKey: "order-2" }), task({ idempotencyKey: null }), task({ idempotencyKey: null })], clock.now());
      expect(batch[1]!.id).toBe(batch[0]!.id);
      expect(batch[1]!.duplicate).toBe(true);
      expect(batch[2]!.id).not.toBe(batch[3]!.id);

      // Not awaited in between: both calls land in the same group commit.
      const [a, b] = await Promise.all([store.submit([task({ idempotencyKey: "order-3" })], clock.now()), store.submit([task({ idempotencyKey: "order-3" })], clock.now())]);
      expect(b![0]!.id).toBe(a![0]!.id);
      expect(b![0]!.duplicate).toBe(true);
      expect((await store.pendingCount())).toBe(5);

      // The key holds while the task is retained, whatever its status; purge frees it.
      const leases = await claim(store, { queues: ["default"], workerId: "w1", max: 10, nowMs: clock.now() });
      for (const l of leases) await complete(store, { id: l.task.id, token: l.token }, { result: null, resultIsJson: false }, clock.now());
      const [held] = await store.submit([task({ idempotencyKey: "order-1" })], clock.now());
      expect(held).toMatchObject({ id: first!.id, status: "completed", duplicate: true });
      clock.advance(1);
      expect(await store.purgeFinished(clock.now(), 100)).toEqual({ purged: 5, done: true });
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
      const leases = await claim(store, { queues: ["default"], workerId: "w9", max: 3, nowMs: clock.now() });
      clock.advance(42);
      const info = await complete(store, { id: ok!.id, token: leases[0]!.token }, { result: new TextEncoder().encode('{"sent":true}'), resultIsJson: true }, clock.now());
      expect(info).toEqual({ queue: "default", startedAtMs: clock.now() - 42 });
      await complete(store, { id: bytes!.id, token: leases[1]!.token }, { result: new Uint8Array([0, 255, 7]), resultIsJson: false }, clock.now());
      await fail(store, { id: bad!.id, token: leases[2]!.token }, { error: "SMTP 550: mailbox unavailable", unrecoverable: false }, clock.now());
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
      const leases = await claim(store, { queues: ["default"], workerId: "w1", max: 4, nowMs: clock.now() });
      await complete(store, { id: leases[0]!.task.id, token: leases[0]!.token }, { result: null, resultIsJson: false }, clock.now());
      await complete(store, { id: leases[1]!.task.id, token: leases[1]!.token }, { result: null, resultIsJson: false }, clock.now());
      await fail(store, { id: leases[2]!.task.id, token: leases[2]!.token }, { error: "x", unrecoverable: true }, clock.now());
      await store.cancel(outs[6]!.id, clock.now());
      const cutoff = clock.now() + 1;
      clock.advance(10);
      await complete(store, { id: leases[3]!.task.id, token: leases[3]!.token }, { result: null, resultIsJson: false }, clock.now());
      // Steps of at most 3 until the store says done: 4 old finished rows in all, the newer one kept.
      const steps = [await store.purgeFinished(cutoff, 3)];
      for (let i = 0; i < 10 && !steps[steps.length - 1]!.done; i++) steps.push(await store.purgeFinished(cutoff, 3));
      expect(steps[0]!.purged).toBe(3);
      expect(steps.every((step) => step.purged <= 3)).toBe(true);
      expect(steps.reduce((sum, step) => sum + step.purged, 0)).toBe(4);
      expect(steps[steps.length - 1]!.done).toBe(true);
      expect(await store.purgeFinished(cutoff, 3)).toEqual({ purged: 0, done: true });
      const left = await list(store, { limit: 100 });
      expect(left.tasks.map((t) => t.status).sort()).toEqual(["completed", "pending", "pending"]);
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
        const res = await list(store, { limit: 7, ...(cursor === undefined ? {} : { cursor }) });
        seen.push(...res.tasks.map((t) => t.id));
        if (res.nextCursor === null) break;
        cursor = res.nextCursor;
      }
      expect(seen).toEqual(outs.map((o) => o.id));
      expect((await list(store, { queue: "even", limit: 100 })).tasks).toHaveLength(13);
      expect((await list(store, { type: "five", queue: "odd", limit: 100 })).tasks).toHaveLength(2);
      expect((await list(store, { status: "scheduled", limit: 100 })).tasks.map((t) => t.id)).toEqual(outs.slice(20).map((o) => o.id));
      const full = await list(store, { status: "pending", limit: 20 });
      expect(full.tasks).toHaveLength(20);
      expect(full.nextCursor).toBeNull();
      await expectCode(list(store, { limit: 5, cursor: "garbage" }), ErrorCode.InvalidField);
    } finally {
      await h.cleanup();
    }
  });
}
