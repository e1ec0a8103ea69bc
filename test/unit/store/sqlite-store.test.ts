// SQLite-specific behaviour the shared contract cannot express: group commit boundaries, failed
// commits and what memory holds after them, leases in memory, reply-sized claims and lists,
// retention, batched reports. Temp dirs only; no sleeps. Files, WAL and sync full: sqlite-*.test.ts.

import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { BrokerError, ErrorCode } from "../../../src/protocol/errors.ts";
import { task } from "../../contract/store.contract.ts";
import { TokenCipher } from "../../../src/store/token-cipher.ts";
import { storeHarness } from "../../helpers/sqlite-store-harness.ts";
import { claim, complete, list } from "../../helpers/store-ops.ts";

const { tempPath, open } = storeHarness();

test("calls issued in one turn share one commit, and none resolves before it", async () => {
  const store = open({ path: tempPath() });
  const before = store.commitStats().commits;
  let resolved = 0;
  const calls = Array.from({ length: 20 }, (_, i) => store.submit([task({ type: `t${i}` })], 1000).then(() => resolved++));
  await Promise.resolve();
  expect(resolved).toBe(0);
  await Promise.all(calls);
  expect(resolved).toBe(20);
  const stats = store.commitStats();
  expect(stats.commits - before).toBe(1);
  expect(stats.ops).toBeGreaterThanOrEqual(20);
});

/** The lease serial behind a token, worked out with the key the file keeps (see lease-tokens.ts). */
function serialOf(path: string, token: number): number {
  const db = new Database(path, { readonly: true });
  const key = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    const row = db.query("SELECT value FROM meta WHERE key = ?").get(`lease_token_key_${i}`) as { value: number };
    new DataView(key.buffer).setUint32(i * 4, row.value);
  }
  db.close();
  return new TokenCipher(key).serial(token);
}

test("a failed commit rejects the whole group with StorageUnavailable and memory matches the file again", async () => {
  let failNext = false;
  const path = tempPath();
  const store = open({
    path,
    beforeCommit() {
      if (failNext) {
        failNext = false;
        throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
      }
    },
  });
  const [kept] = await store.submit([task({ priority: 10 })], 1000);
  const [leased] = await claim(store, { queues: ["default"], workerId: "w1", max: 1, nowMs: 1000 });
  await store.submit([task({ priority: 20 })], 1000);

  failNext = true;
  const results = await Promise.allSettled([
    store.submit([task({ idempotencyKey: "k" }), task()], 1001),
    claim(store, { queues: ["default"], workerId: "w2", max: 5, nowMs: 1001 }),
    complete(store, { id: leased!.task.id, token: leased!.token }, { result: null, resultIsJson: false }, 1001),
  ]);
  for (const r of results) {
    expect(r.status).toBe("rejected");
    const err = (r as PromiseRejectedResult).reason as BrokerError;
    expect(err).toBeInstanceOf(BrokerError);
    expect(err.code).toBe(ErrorCode.StorageUnavailable);
    expect(err.spec.retryable).toBe(true);
    expect(err.message).toContain("SQLITE_FULL");
  }
  // Nothing of the failed group is visible; what was committed before is intact.
  expect((await store.pendingCount())).toBe(1);
  expect((await store.counts()).inProgress).toBe(1);
  expect((await store.get(kept!.id))!.status).toBe("in_progress");
  expect((await list(store, { limit: 100 })).tasks).toHaveLength(2);
  // The lease that the failed complete touched is still valid, and the key is still free.
  await complete(store, { id: leased!.task.id, token: leased!.token }, { result: null, resultIsJson: false }, 1002);
  const [fresh] = await store.submit([task({ idempotencyKey: "k" })], 1002);
  expect(fresh!.duplicate).toBe(false);
  const claimed = await claim(store, { queues: ["default"], workerId: "w2", max: 5, nowMs: 1002 });
  expect(claimed.map((l) => l.task.priority)).toEqual([150, 20]);
  // A rolled-back claim never hands out a token that a later claim reuses: its serial is skipped.
  expect(serialOf(path, claimed[0]!.token)).toBeGreaterThan(serialOf(path, leased!.token) + 1);
});

test("sync interval keeps the same semantics", async () => {
  const path = tempPath();
  const store = open({ path, sync: "interval", walSyncIntervalMs: 10 });
  const [out] = await store.submit([task()], 1000);
  store.checkpoint();
  await store.close();
  const again = open({ path, sync: "interval" });
  expect((await again.get(out!.id))!.status).toBe("pending");
});

test("microtask flushing also groups calls made in the same job", async () => {
  const store = open({ path: tempPath(), flushOn: "microtask" });
  const before = store.commitStats().commits;
  await Promise.all([store.submit([task()], 1), store.submit([task()], 1), claim(store, { queues: ["default"], workerId: "w", max: 1, nowMs: 1 })]);
  expect(store.commitStats().commits - before).toBe(1);
});

test("a tick works off a large due backlog in bounded steps, asking to come straight back", async () => {
  const store = open({ path: tempPath() });
  await store.submit(Array.from({ length: 4500 }, () => task({ runAtMs: 5000 })), 1000);
  expect(await store.tick(4999)).toEqual({ promoted: 0, expired: 0, expiredLeases: [], nextDueMs: 5000 });
  const first = await store.tick(5000);
  expect(first.promoted).toBe(2000);
  expect(first.nextDueMs).toBe(5000);
  expect((await store.tick(5000)).promoted).toBe(2000);
  const last = await store.tick(5000);
  expect(last).toEqual({ promoted: 500, expired: 0, expiredLeases: [], nextDueMs: null });
  expect((await store.pendingCount())).toBe(4500);
});

test("a throwing listener is logged and never leaves a committed caller waiting", async () => {
  const logged: string[] = [];
  const store = open({
    path: tempPath(),
    events: {
      ready: () => {
        throw new Error("listener bug");
      },
    },
    onCommit: () => {
      throw new Error("metrics bug");
    },
    log: (message) => logged.push(message),
  });
  const [out] = await store.submit([task()], 1000);
  expect(out!.status).toBe("pending");
  expect(logged.sort()).toEqual(["onCommit listener threw", "ready listener threw"]);
});

test("multi-row inserts keep batch order, key lookups and delays exact across chunk boundaries", async () => {
  const store = open({ path: tempPath() });
  const batch = Array.from({ length: 300 }, (_, i) =>
    task({ type: `t${i}`, idempotencyKey: i % 37 === 0 ? `key-${i % 74}` : null, runAtMs: i % 50 === 7 ? 9000 : null }),
  );
  const outs = await store.submit(batch, 1000);
  // i and i+74 share a key when both are multiples of 37: the later one is a duplicate of the first.
  for (let i = 0; i < 300; i++) {
    const dupOf = i % 37 === 0 && i >= 74 ? i % 74 : null;
    if (dupOf !== null) expect(outs[i]).toEqual({ ...outs[dupOf]!, duplicate: true });
    else expect(outs[i]!.duplicate).toBe(false);
  }
  const fresh = outs.filter((o) => !o.duplicate);
  const delayed = fresh.filter((o) => o.status === "scheduled").length;
  expect(delayed).toBe(6);
  expect((await store.pendingCount())).toBe(fresh.length - delayed);
  const claimed = await claim(store, { queues: ["default"], workerId: "w", max: 1000, nowMs: 1000 });
  expect(claimed.map((l) => l.task.id)).toEqual(fresh.filter((o) => o.status === "pending").map((o) => o.id));
  for (const l of claimed) expect(l.task.type).toBe(batch[outs.findIndex((o) => o.id === l.task.id)]!.type);
});

test("a statement failing mid-operation fails its whole group and nothing of it stays", async () => {
  const path = tempPath();
  const store = open({ path });
  await store.submit([task({ type: "kept" })], 1000);
  // A trigger made by another connection stands in for a write error (disk full, I/O error) that
  // hits in the middle of a batch, after some of its rows were written.
  const other = new Database(path);
  other.exec("CREATE TRIGGER boom BEFORE INSERT ON tasks WHEN NEW.type = 'boom' BEGIN SELECT RAISE(FAIL, 'simulated write error'); END");
  other.close();
  const results = await Promise.allSettled([
    store.submit([task({ type: "same-group" })], 1001),
    store.submit([task({ type: "ok", idempotencyKey: "a" }), task({ type: "boom", idempotencyKey: "b" })], 1001),
  ]);
  for (const r of results) {
    expect(r.status).toBe("rejected");
    expect(((r as PromiseRejectedResult).reason as BrokerError).code).toBe(ErrorCode.StorageUnavailable);
  }
  expect((await store.pendingCount())).toBe(1);
  expect((await list(store, { limit: 10 })).tasks.map((t) => t.type)).toEqual(["kept"]);
  const [again] = await store.submit([task({ type: "ok", idempotencyKey: "a" })], 1002);
  expect(again!.duplicate).toBe(false);
});

test("leases live in memory: claiming durable tasks, renewing and handing back commit nothing; an outcome commits once", async () => {
  let commits = 0;
  const store = open({ path: tempPath(), onCommit: () => commits++ });
  // The first claim reserves a block of lease tokens: one commit, then none for the next 10,000.
  await store.submit([task({ priority: 9 })], 999);
  const [warmUp] = await claim(store, { queues: ["default"], workerId: "w0", max: 1, nowMs: 999 });
  await store.release([{ id: warmUp!.task.id, token: warmUp!.token }], 999);
  const [first] = await store.submit([task(), task()], 1000);
  const afterSubmit = commits;
  const leases = await claim(store, { queues: ["default"], workerId: "w1", max: 2, nowMs: 1001 });
  expect(leases).toHaveLength(2);
  expect(await store.renew(leases.map((l) => ({ id: l.task.id, token: l.token })), 1002)).toEqual([1002 + 30_000, 1002 + 30_000]);
  await store.release([{ id: leases[1]!.task.id, token: leases[1]!.token }], 1003);
  await new Promise((resolve) => setImmediate(resolve));
  expect(commits).toBe(afterSubmit);
  await complete(store, { id: first!.id, token: leases[0]!.token }, { result: null, resultIsJson: false }, 1004);
  expect(commits).toBe(afterSubmit + 1);
  const done = (await store.get(first!.id))!;
  expect(done).toMatchObject({ status: "completed", workerId: "w1", startedAtMs: 1001 });
});

test("a claim of tasks whose submit is still uncommitted waits for that commit and fails with it", async () => {
  let failNext = false;
  const store = open({
    path: tempPath(),
    beforeCommit() {
      if (failNext) {
        failNext = false;
        throw Object.assign(new Error("disk I/O error"), { code: "SQLITE_IOERR" });
      }
    },
  });
  failNext = true;
  const [submitted, claimed] = await Promise.allSettled([
    store.submit([task()], 1000),
    claim(store, { queues: ["default"], workerId: "w", max: 1, nowMs: 1000 }),
  ]);
  expect(submitted.status).toBe("rejected");
  expect(claimed.status).toBe("rejected");
  expect(((claimed as PromiseRejectedResult).reason as BrokerError).code).toBe(ErrorCode.StorageUnavailable);
  expect((await store.counts())).toMatchObject({ pending: 0, inProgress: 0 });
});

test("a batch claim stops before one reply frame is full; what did not fit stays first in line, in order", async () => {
  const store = open({ path: tempPath() });
  const big = new Uint8Array(1024 * 1024);
  const submitted = await store.submit(Array.from({ length: 40 }, () => task({ payload: big })), 1000);
  const claimed: string[] = [];
  for (let round = 0; round < 10 && claimed.length < 40; round++) {
    const batch = await claim(store, { queues: ["default"], workerId: "w", max: 40, nowMs: 1001 + round });
    expect(batch.length).toBeGreaterThan(0);
    expect(batch.length).toBeLessThan(20);
    claimed.push(...batch.map((l) => l.task.id));
  }
  expect(claimed).toEqual(submitted.map((o) => o.id));
});

test("a list page stops before one reply frame is full", async () => {
  const store = open({ path: tempPath() });
  const big = new Uint8Array(1024 * 1024);
  const submitted = await store.submit(Array.from({ length: 20 }, () => task({ payload: big })), 1000);
  const page = await list(store, { limit: 20 });
  expect(page.tasks.length).toBeLessThan(20);
  expect(page.nextCursor).not.toBeNull();
  const next = await list(store, { limit: 20, cursor: page.nextCursor! });
  expect(next.tasks[0]!.id).toBe(submitted[page.tasks.length]!.id);
});

test("retention walks completed rows in bounded steps, keeps live and newer ones, and finds late finishers next pass", async () => {
  const store = open({ path: tempPath() });
  // Old tasks (created at 1000): 300 to complete, then one that stays leased, then 300 more.
  const first = await store.submit(Array.from({ length: 300 }, () => task()), 1000);
  const [late] = await store.submit([task({ priority: 250 })], 1000);
  const second = await store.submit(Array.from({ length: 300 }, () => task()), 1000);
  const newer = await store.submit(Array.from({ length: 5 }, () => task()), 5000);
  const [lateLease] = await claim(store, { queues: ["default"], workerId: "slow", max: 1, nowMs: 1000 });
  expect(lateLease!.task.id).toBe(late!.id);
  const leases = await claim(store, { queues: ["default"], workerId: "w", max: 1000, nowMs: 1000 });
  const done = new Set([...first, ...second].map((o) => o.id));
  await Promise.all(
    leases.filter((l) => done.has(l.task.id)).map((l) => complete(store, { id: l.task.id, token: l.token }, { result: null, resultIsJson: false }, 1500)),
  );
  const steps = [];
  for (let i = 0; i < 50; i++) {
    const step = await store.purgeFinished(2000, 100);
    steps.push(step);
    if (step.done) break;
  }
  expect(steps.every((s) => s.purged <= 100)).toBe(true);
  expect(steps.reduce((n, s) => n + s.purged, 0)).toBe(600);
  expect(steps[steps.length - 1]!.done).toBe(true);
  // The leased task and the newer ones are all still there.
  expect((await store.get(late!.id))!.status).toBe("in_progress");
  for (const o of newer) expect((await store.get(o.id))!.status).toBe("in_progress");
  // The late one finishes before the next cutoff: the next pass starts from the beginning and finds it.
  await complete(store, { id: late!.id, token: lateLease!.token }, { result: null, resultIsJson: false }, 1800);
  expect(await store.purgeFinished(2000, 100)).toEqual({ purged: 1, done: true });
  expect(await store.get(late!.id)).toBeNull();
});

test("a report of several results is one store operation: a stale item fails alone, the others commit together", async () => {
  const store = open({ path: tempPath() });
  await store.submit([task(), task(), task(), task({ maxRetries: 0 })], 1000);
  const [a, b, c, d] = await claim(store, { queues: ["default"], workerId: "w1", max: 4, nowMs: 1000 });
  const before = store.commitStats();
  const results = await store.report(
    [
      { lease: { id: a!.task.id, token: a!.token }, completed: { result: new Uint8Array([1]), resultIsJson: false } },
      { lease: { id: b!.task.id, token: b!.token + 99 }, completed: { result: null, resultIsJson: false } },
      { lease: { id: c!.task.id, token: c!.token }, failed: { error: "boom", unrecoverable: false } },
      { lease: { id: d!.task.id, token: d!.token }, failed: { error: "boom", unrecoverable: false } },
      { lease: { id: a!.task.id, token: a!.token }, completed: { result: null, resultIsJson: false } },
    ],
    1100,
  );
  expect(results[0]).toEqual({ ok: true, completed: { queue: "default", startedAtMs: 1000 } });
  expect(results[1]!.ok === false && results[1]!.error.code).toBe(ErrorCode.LeaseLost);
  expect(results[2]).toMatchObject({ ok: true, failed: { status: "failed", attempts: 1 } });
  expect(results[3]).toMatchObject({ ok: true, failed: { status: "dead", retryAtMs: null, attempts: 1 } });
  // The same lease twice: the second finds it already ended.
  expect(results[4]!.ok === false && results[4]!.error.code).toBe(ErrorCode.LeaseLost);
  const after = store.commitStats();
  expect({ commits: after.commits - before.commits, ops: after.ops - before.ops }).toEqual({ commits: 1, ops: 1 });
  expect((await store.get(a!.task.id))!.status).toBe("completed");
  expect((await store.get(b!.task.id))!.status).toBe("in_progress");
  expect((await store.get(c!.task.id))!.status).toBe("failed");
  expect((await store.get(d!.task.id))!.status).toBe("dead");
});

test("a report of 100 completions writes each task its own result, and no other row", async () => {
  const store = open({ path: tempPath() });
  await store.submit(Array.from({ length: 150 }, () => task()), 1000);
  const leases = await claim(store, { queues: ["default"], workerId: "w1", max: 150, nowMs: 1000 });
  expect(leases).toHaveLength(150);
  const reported = leases.slice(0, 100);
  const results = await store.report(
    reported.map((l, i) => ({ lease: { id: l.task.id, token: l.token }, completed: { result: new Uint8Array([i, i >> 8, 7]), resultIsJson: i % 2 === 0 } })),
    2000,
  );
  expect(results.every((r) => r.ok)).toBe(true);
  for (const [i, l] of reported.entries()) {
    const t = (await store.get(l.task.id))!;
    expect({ status: t.status, result: [...t.result!], json: t.resultIsJson, finished: t.finishedAtMs, worker: t.workerId, started: t.startedAtMs }).toEqual({
      status: "completed", result: [i, i >> 8, 7], json: i % 2 === 0, finished: 2000, worker: "w1", started: 1000,
    });
  }
  for (const l of leases.slice(100)) expect((await store.get(l.task.id))!.status).toBe("in_progress");
  expect((await store.counts()).inProgress).toBe(50);
});
