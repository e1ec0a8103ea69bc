// Contract cases: what operators read and do (issue 24) — lists in either order with every filter,
// counts that survive a restart, run history, delete, the position of a ready task, durable pauses.
// Registered by runStoreContract; every backend runs them.

import { expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/errors.ts";
import type { ListPage, Store, TaskFilter } from "../../src/store/store.ts";
import type { Lease, LeaseRef, Task } from "../../src/rules/task.ts";
import { expectCode, task, type ContractContext } from "./store.contract.ts";
import { complete, fail, list } from "../helpers/store-ops.ts";

const ref = (lease: Lease): LeaseRef => ({ id: lease.task.id, token: lease.token });

/** Every task of a listing, following cursors (a page may be short, even empty, and still go on). */
async function all(store: Store, query: Parameters<typeof list>[1]): Promise<Task[]> {
  const out: Task[] = [];
  let page: ListPage;
  let cursor: string | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    page = await list(store, { ...query, ...(cursor === undefined ? {} : { cursor }) });
    out.push(...page.tasks);
    if (page.nextCursor === null) return out;
    cursor = page.nextCursor;
  }
  throw new Error("the listing did not end");
}

export function operatorCases({ setup, claimOne }: ContractContext): void {
  test("lists newest or oldest first; finished tasks by the time they finished; idempotency key, worker and age filters", async () => {
    const { clock, h, store } = await setup();
    try {
      const [a, b, c] = await store.submit([task({ idempotencyKey: "k-a" }), task({ type: "other" }), task()], clock.now());
      const ids = (tasks: Task[]): string[] => tasks.map((t) => t.id);
      expect(ids(await all(store, { limit: 2 }))).toEqual([a!.id, b!.id, c!.id]);
      expect(ids(await all(store, { limit: 2, order: "newest" }))).toEqual([c!.id, b!.id, a!.id]);
      expect(ids(await all(store, { limit: 10, idempotencyKey: "k-a" }))).toEqual([a!.id]);
      expect(ids(await all(store, { limit: 10, idempotencyKey: "k-a", type: "other" }))).toEqual([]);
      expect(ids(await all(store, { limit: 10, idempotencyKey: "nope" }))).toEqual([]);
      // Finished in the order c, a (c first though submitted last): listed by finish time.
      clock.advance(10);
      const leases = [await claimOne(store, clock, ["default"], "w-a"), await claimOne(store, clock, ["default"], "w-b"), await claimOne(store, clock, ["default"], "w-c")];
      await complete(store, ref(leases[2]!), { result: null, resultIsJson: false }, clock.now());
      clock.advance(10);
      const finishedA = clock.now();
      await complete(store, ref(leases[0]!), { result: null, resultIsJson: false }, clock.now());
      expect(ids(await all(store, { status: "completed", limit: 1 }))).toEqual([c!.id, a!.id]);
      expect(ids(await all(store, { status: "completed", limit: 1, order: "newest" }))).toEqual([a!.id, c!.id]);
      expect(ids(await all(store, { status: "completed", limit: 10, updatedBeforeMs: finishedA }))).toEqual([c!.id]);
      expect(ids(await all(store, { limit: 10, workerId: "w-b" }))).toEqual([b!.id]);
      expect(ids(await all(store, { status: "in_progress", limit: 10, workerId: "w-b" }))).toEqual([b!.id]);
      expect(ids(await all(store, { status: "in_progress", limit: 10, workerId: "w-a" }))).toEqual([]);
      await expectCode(list(store, { status: "completed", limit: 5, cursor: "garbage" }), ErrorCode.InvalidField);
    } finally {
      await h.cleanup();
    }
  });

  test("runningByWorker counts each worker's leases in one read, as in_progress listings by worker do", async () => {
    const { clock, h, store } = await setup();
    try {
      expect(await store.runningByWorker()).toEqual(new Map());
      await store.submit([task(), task(), task(), task()], clock.now());
      const a1 = await claimOne(store, clock, ["default"], "w-a");
      await claimOne(store, clock, ["default"], "w-a");
      const b1 = await claimOne(store, clock, ["default"], "w-b");
      expect(await store.runningByWorker()).toEqual(new Map([["w-a", 2], ["w-b", 1]]));
      await complete(store, ref(a1!), { result: null, resultIsJson: false }, clock.now());
      await fail(store, ref(b1!), { error: "x", unrecoverable: true }, clock.now());
      expect(await store.runningByWorker()).toEqual(new Map([["w-a", 1]]));
      for (const [workerId, n] of await store.runningByWorker()) expect(await store.count({ status: "in_progress", workerId })).toBe(n);
    } finally {
      await h.cleanup();
    }
  });

  test("a filter the index does not serve pages through many rows, each task once, in order", async () => {
    const { clock, h, store } = await setup();
    try {
      const many = Array.from({ length: 6000 }, (_, i) => task({ queue: i === 5999 || i === 2 ? "rare" : "busy" }));
      const outs = await store.submit(many, clock.now());
      const found = await all(store, { status: "pending", queue: "rare", limit: 10 });
      expect(found.map((t) => t.id)).toEqual([outs[2]!.id, outs[5999]!.id]);
      const newest = await all(store, { queue: "rare", limit: 1, order: "newest" });
      expect(newest.map((t) => t.id)).toEqual([outs[5999]!.id, outs[2]!.id]);
      expect(await store.count({ queue: "rare" })).toBe(2);
      expect(await store.count({ status: "pending", type: "email.send", queue: "rare" })).toBe(2);
    } finally {
      await h.cleanup();
    }
  });

  test("counts of finished tasks come from the store: they survive a restart and follow re-runs, deletes and retention", async () => {
    const { clock, h, store: first } = await setup({ retry: { backoff: { baseMs: 1000, factor: 2, maxMs: 5000, jitter: 0 }, random: () => 0.5 } });
    try {
      const [x, y, z, w] = await first.submit([task({ maxRetries: 0 }), task({ queue: "q2" }), task({ maxRetries: 1 }), task()], clock.now());
      const lx = await claimOne(first, clock);
      await fail(first, ref(lx), { error: "boom", unrecoverable: false }, clock.now());
      const ly = await claimOne(first, clock, ["q2"]);
      await complete(first, ref(ly), { result: null, resultIsJson: false }, clock.now());
      const lz = await claimOne(first, clock);
      await fail(first, ref(lz), { error: "again later", unrecoverable: false }, clock.now());
      await first.cancel(w!.id, clock.now());
      const expectCounts = async (store: Store, want: Record<string, number>): Promise<void> => {
        const c = await store.counts();
        expect({ completed: c.completed, dead: c.dead, cancelled: c.cancelled, retrying: c.retrying }).toEqual(want as never);
      };
      await expectCounts(first, { completed: 1, dead: 1, cancelled: 1, retrying: 1 });
      const q2 = (await first.counts()).queues.find((q) => q.queue === "q2")!;
      expect({ completed: q2.completed, dead: q2.dead }).toEqual({ completed: 1, dead: 0 });
      const store = await h.reopen();
      await expectCounts(store, { completed: 1, dead: 1, cancelled: 1, retrying: 1 });
      expect(await store.count({ status: "failed" })).toBe(1);
      expect(await store.count({ status: "dead" })).toBe(1);
      await store.retry(x!.id, clock.now());
      await expectCounts(store, { completed: 1, dead: 0, cancelled: 1, retrying: 1 });
      await store.delete(w!.id, clock.now());
      await expectCounts(store, { completed: 1, dead: 0, cancelled: 0, retrying: 1 });
      clock.advance(10);
      for (let i = 0; i < 10 && !(await store.purgeFinished(clock.now(), 100)).done; i++);
      await expectCounts(store, { completed: 0, dead: 0, cancelled: 0, retrying: 1 });
      clock.advance(5000);
      await store.tick(clock.now());
      await expectCounts(store, { completed: 0, dead: 0, cancelled: 0, retrying: 0 });
      expect((await store.get(z!.id))!.status).toBe("pending");
      expect(y).toBeDefined();
    } finally {
      await h.cleanup();
    }
  });

  test("a task's runs: every way a run ends, oldest first, kept across a restart and an operator's re-run", async () => {
    const { clock, h, store: first } = await setup();
    try {
      const [t1] = await first.submit([task({ maxRetries: 5, leaseMs: 1000 })], clock.now());
      const id = t1!.id;
      expect(await first.runs(id)).toEqual([]);
      const r1 = await claimOne(first, clock, ["default"], "w1");
      clock.advance(5);
      await fail(first, ref(r1), { error: "first failure", unrecoverable: false }, clock.now());
      clock.advance(1000);
      await first.tick(clock.now());
      const r2 = await claimOne(first, clock, ["default"], "w2");
      clock.advance(1000);
      await first.tick(clock.now());
      await claimOne(first, clock, ["default"], "w3");
      await first.reclaimWorker("w3", true, clock.now());
      const store = await h.reopen();
      const r4 = await claimOne(store, clock, ["default"], "w4");
      await store.cancel(id, clock.now());
      await store.retry(id, clock.now());
      const r5 = await claimOne(store, clock, ["default"], "w5");
      clock.advance(7);
      await complete(store, ref(r5), { result: null, resultIsJson: false }, clock.now());
      const runs = await store.runs(id);
      expect(runs.map((r) => [r.workerId, r.outcome])).toEqual([
        ["w1", "failed"],
        ["w2", "lease_expired"],
        ["w3", "worker_lost"],
        ["w4", "cancelled"],
        ["w5", "completed"],
      ]);
      expect(runs[0]).toMatchObject({ startedAtMs: r1.task.startedAtMs, endedAtMs: r1.task.startedAtMs! + 5, error: "first failure" });
      expect(runs[1]!.error).toContain("lease expired");
      expect(runs[3]).toMatchObject({ startedAtMs: r4.task.startedAtMs, error: null });
      expect(runs[4]!.endedAtMs - runs[4]!.startedAtMs).toBe(7);
      expect(r2.task.workerId).toBe("w2");
      await store.delete(id, clock.now());
      expect(await store.runs(id)).toEqual([]);
    } finally {
      await h.cleanup();
    }
  });

  test("delete removes a waiting or finished task for good; a running one is InvalidState; unknown ids NotFound", async () => {
    const { clock, h, store } = await setup();
    try {
      const [p, s, r] = await store.submit([task(), task({ runAtMs: clock.now() + 1000 }), task()], clock.now());
      const running = await claimOne(store, clock);
      expect(running.task.id).toBe(p!.id);
      const err = await expectCode(store.delete(p!.id, clock.now()), ErrorCode.InvalidState);
      expect(err.message).toContain("running");
      expect((await store.delete(s!.id, clock.now())).id).toBe(s!.id);
      expect((await store.delete(r!.id, clock.now())).status).toBe("pending");
      expect(await store.get(r!.id)).toBeNull();
      await expectCode(store.delete(r!.id, clock.now()), ErrorCode.NotFound);
      // Neither comes back: the scheduled one is not promoted, the pending one is not claimed.
      clock.advance(2000);
      await store.tick(clock.now());
      expect(await store.claim({ queues: ["default"], workerId: "w2", max: 10, maxDataBytes: 1 << 20, nowMs: clock.now() })).toEqual([]);
      const c = await store.counts();
      expect({ pending: c.pending, scheduled: c.scheduled, inProgress: c.inProgress }).toEqual({ pending: 0, scheduled: 0, inProgress: 1 });
      await complete(store, ref(running), { result: null, resultIsJson: false }, clock.now());
      await store.delete(p!.id, clock.now());
      expect((await store.counts()).completed).toBe(0);
    } finally {
      await h.cleanup();
    }
  });

  test("readyAhead: ready tasks of its queue a claim takes first, by priority then age; null unless pending", async () => {
    const { clock, h, store } = await setup();
    try {
      const [low1, high, low2] = await store.submit([task({ priority: 10 }), task({ priority: 250 }), task({ priority: 10 })], clock.now());
      await store.submit([task({ queue: "elsewhere", priority: 255 })], clock.now());
      expect(await store.readyAhead(low2!.id)).toEqual({ higherPriority: 1, samePriority: 1 });
      expect(await store.readyAhead(high!.id)).toEqual({ higherPriority: 0, samePriority: 0 });
      await claimOne(store, clock);
      expect(await store.readyAhead(high!.id)).toBeNull();
      expect(await store.readyAhead(low2!.id)).toEqual({ higherPriority: 0, samePriority: 1 });
      expect(low1).toBeDefined();
      expect(await store.readyAhead("0190f3a2-7b1c-7def-8a12-3456789abcde")).toBeNull();
    } finally {
      await h.cleanup();
    }
  });

  test("count matches what list finds, for every filter", async () => {
    const { clock, h, store } = await setup();
    try {
      await store.submit(Array.from({ length: 30 }, (_, i) => task({ queue: `q${i % 3}`, type: `t${i % 2}`, runAtMs: i % 5 === 0 ? clock.now() + 1000 : null })), clock.now());
      await claimOne(store, clock, ["q0"], "wq");
      clock.advance(100);
      const filters: TaskFilter[] = [
        {}, { status: "pending" }, { status: "scheduled" }, { status: "in_progress" }, { queue: "q1" }, { type: "t1" },
        { status: "pending", queue: "q0" }, { status: "pending", type: "t0", queue: "q2" }, { workerId: "wq" }, { updatedBeforeMs: clock.now() },
      ];
      for (const filter of filters) {
        const listed = await all(store, { ...filter, limit: 7 });
        expect({ filter, n: await store.count(filter) }).toEqual({ filter, n: listed.length });
      }
    } finally {
      await h.cleanup();
    }
  });

  test("a pause is durable: paused queues are listed after a restart until resumed", async () => {
    const { clock, h, store: first } = await setup();
    try {
      expect(await first.pausedQueues()).toEqual([]);
      await first.setPaused("mail", true, clock.now());
      await first.setPaused("mail", true, clock.now());
      await first.setPaused("reports", true, clock.now());
      await first.setPaused("never-paused", false, clock.now());
      const store = await h.reopen();
      expect(await store.pausedQueues()).toEqual(["mail", "reports"]);
      await store.setPaused("mail", false, clock.now());
      expect(await (await h.reopen()).pausedQueues()).toEqual(["reports"]);
    } finally {
      await h.cleanup();
    }
  });
}
