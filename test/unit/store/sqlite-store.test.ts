// SQLite-specific behaviour the shared contract cannot express: group commit boundaries, failed
// commits, corrupt files, WAL bounds, space reclaim. Temp dirs only; no sleeps.

import { afterEach, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BrokerError, ErrorCode } from "../../../src/protocol/errors.ts";
import { uuidv7Bytes } from "../../../src/protocol/uuid.ts";
import { CorruptDatabaseError, MIGRATIONS } from "../../../src/store/sqlite/schema.ts";
import { openSqliteStore, type SqliteStore, type SqliteStoreOptions } from "../../../src/store/sqlite/sqlite-store.ts";
import { task } from "../../contract/store.contract.ts";

const dirs: string[] = [];
const stores: SqliteStore[] = [];

function tempPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "tq-sqlite-"));
  dirs.push(dir);
  return join(dir, "tasks.db");
}

function open(options: Partial<SqliteStoreOptions> & { path: string }): SqliteStore {
  const store = openSqliteStore(options);
  stores.push(store);
  return store;
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

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

test("a failed commit rejects the whole group with StorageUnavailable and memory matches the file again", async () => {
  let failNext = false;
  const store = open({
    path: tempPath(),
    beforeCommit() {
      if (failNext) {
        failNext = false;
        throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
      }
    },
  });
  const [kept] = await store.submit([task({ priority: 10 })], 1000);
  const [leased] = await store.claim({ queues: ["default"], workerId: "w1", max: 1, nowMs: 1000 });
  await store.submit([task({ priority: 20 })], 1000);

  failNext = true;
  const results = await Promise.allSettled([
    store.submit([task({ idempotencyKey: "k" }), task()], 1001),
    store.claim({ queues: ["default"], workerId: "w2", max: 5, nowMs: 1001 }),
    store.complete({ id: leased!.task.id, token: leased!.token }, { result: null, resultIsJson: false }, 1001),
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
  expect(store.pendingCount()).toBe(1);
  expect(store.counts().inProgress).toBe(1);
  expect((await store.get(kept!.id))!.status).toBe("in_progress");
  expect((await store.list({ limit: 100 })).tasks).toHaveLength(2);
  // The lease that the failed complete touched is still valid, and the key is still free.
  await store.complete({ id: leased!.task.id, token: leased!.token }, { result: null, resultIsJson: false }, 1002);
  const [fresh] = await store.submit([task({ idempotencyKey: "k" })], 1002);
  expect(fresh!.duplicate).toBe(false);
  const claimed = await store.claim({ queues: ["default"], workerId: "w2", max: 5, nowMs: 1002 });
  expect(claimed.map((l) => l.task.priority)).toEqual([150, 20]);
  // A rolled-back claim never hands out a token that a later claim reuses.
  expect(claimed[0]!.token).toBeGreaterThan(leased!.token + 1);
});

test("a file that is not a database is refused with CorruptDatabaseError", () => {
  const path = tempPath();
  writeFileSync(path, Buffer.alloc(8192, 0x41));
  let caught: unknown;
  try {
    open({ path });
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(CorruptDatabaseError);
  expect((caught as CorruptDatabaseError).message).toContain(path);
  expect(CorruptDatabaseError.EXIT_CODE).toBe(65);
});

test("a database with damaged pages is refused by the integrity check", async () => {
  const path = tempPath();
  const store = openSqliteStore({ path });
  await store.submit(Array.from({ length: 2000 }, (_, i) => task({ type: `type-${i}`, idempotencyKey: `key-${i}` })), 1000);
  await store.close();
  const bytes = readFileSync(path);
  // Scribble over the middle of the file (b-tree pages), keeping the header valid.
  for (let i = 4096 * 3; i < bytes.length - 4096; i += 4096) bytes.fill(0x5a, i + 100, i + 1200);
  writeFileSync(path, bytes);
  expect(() => open({ path })).toThrow(CorruptDatabaseError);
});

test("a database from a newer build is refused", () => {
  const path = tempPath();
  const db = new Database(path, { create: true });
  db.exec("PRAGMA user_version = 999");
  db.close();
  expect(() => open({ path })).toThrow(/newer than this build/);
});

test("the checkpoint truncates a WAL grown past maxWalBytes", async () => {
  const path = tempPath();
  const store = open({ path, maxWalBytes: 64 * 1024, walSyncIntervalMs: 3_600_000, checkpointIn: "inline" });
  for (let i = 0; i < 5; i++) await store.submit(Array.from({ length: 200 }, () => task({ payload: new Uint8Array(512) })), 1000);
  expect(statSync(`${path}-wal`).size).toBeGreaterThan(64 * 1024);
  store.checkpoint();
  expect(statSync(`${path}-wal`).size).toBe(0);
  expect(store.commitStats().checkpoints).toBe(1);
  expect(store.pendingCount()).toBe(1000);
});

test("reclaimSpace gives purged pages back to the file system", async () => {
  const path = tempPath();
  const store = open({ path });
  await store.submit(Array.from({ length: 2000 }, () => task({ payload: new Uint8Array(2048) })), 1000);
  const leases = await store.claim({ queues: ["default"], workerId: "w", max: 2000, nowMs: 1000 });
  await Promise.all(leases.map((l) => store.complete({ id: l.task.id, token: l.token }, { result: null, resultIsJson: false }, 1000)));
  store.checkpoint();
  const before = statSync(path).size;
  let purged = 0;
  for (let i = 0; i < 10; i++) purged += (await store.purgeFinished(2000, 500)).purged;
  expect(purged).toBe(2000);
  let freed = 0;
  for (let i = 0; i < 100; i++) {
    const n = await store.reclaimSpace(256);
    freed += n;
    if (n < 256) break;
  }
  expect(freed).toBeGreaterThan(500);
  await store.close();
  expect(statSync(path).size).toBeLessThan(before / 2);
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
  await Promise.all([store.submit([task()], 1), store.submit([task()], 1), store.claim({ queues: ["default"], workerId: "w", max: 1, nowMs: 1 })]);
  expect(store.commitStats().commits - before).toBe(1);
});

test("the checkpoint worker copies the WAL off the main thread; the WAL stays bounded", async () => {
  const path = tempPath();
  const store = open({ path, maxWalBytes: 64 * 1024, walSyncIntervalMs: 3_600_000, checkpointIn: "worker" });
  // Start from an empty WAL: creating the schema alone writes more than half the bound.
  store.checkpoint();
  await store.submit(Array.from({ length: 10 }, () => task()), 1000);
  const result = await store.checkpointInBackground();
  expect(result?.busy).toBe(0);
  expect(result?.checkpointed).toBe(result?.logFrames);
  const afterFirst = store.commitStats().checkpoints;
  expect(afterFirst).toBeGreaterThanOrEqual(1);
  // Past half its bound after a commit, the main thread finishes the checkpoint and truncates.
  for (let i = 0; i < 5; i++) {
    await store.submit(Array.from({ length: 200 }, () => task({ payload: new Uint8Array(512) })), 1000);
    expect(statSync(`${path}-wal`).size).toBeLessThanOrEqual(64 * 1024);
  }
  expect(store.commitStats().checkpoints).toBeGreaterThan(afterFirst);
  expect(store.pendingCount()).toBe(1010);
});

test("checkpoints run on the worker by default with sync full, inline with sync interval", async () => {
  const full = open({ path: tempPath() });
  await full.submit([task()], 1000);
  expect(await full.checkpointInBackground()).not.toBeNull();
  await full.close();
  const interval = open({ path: tempPath(), sync: "interval" });
  await interval.submit([task()], 1000);
  expect(await interval.checkpointInBackground()).toBeNull();
  await interval.close();
});

test("a tick works off a large due backlog in bounded steps, asking to come straight back", async () => {
  const store = open({ path: tempPath() });
  await store.submit(Array.from({ length: 4500 }, () => task({ runAtMs: 5000 })), 1000);
  expect(await store.tick(4999)).toEqual({ promoted: 0, expired: 0, nextDueMs: 5000 });
  const first = await store.tick(5000);
  expect(first.promoted).toBe(2000);
  expect(first.nextDueMs).toBe(5000);
  expect((await store.tick(5000)).promoted).toBe(2000);
  const last = await store.tick(5000);
  expect(last).toEqual({ promoted: 500, expired: 0, nextDueMs: null });
  expect(store.pendingCount()).toBe(4500);
});

test("a throwing listener is logged and never leaves a committed caller waiting", async () => {
  const logged: string[] = [];
  const store = open({
    path: tempPath(),
    onReady: () => {
      throw new Error("listener bug");
    },
    onCommit: () => {
      throw new Error("metrics bug");
    },
    log: (message) => logged.push(message),
  });
  const [out] = await store.submit([task()], 1000);
  expect(out!.status).toBe("pending");
  expect(logged.sort()).toEqual(["onCommit listener threw", "onReady listener threw"]);
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
  expect(store.pendingCount()).toBe(fresh.length - delayed);
  const claimed = await store.claim({ queues: ["default"], workerId: "w", max: 1000, nowMs: 1000 });
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
  expect(store.pendingCount()).toBe(1);
  expect((await store.list({ limit: 10 })).tasks.map((t) => t.type)).toEqual(["kept"]);
  const [again] = await store.submit([task({ type: "ok", idempotencyKey: "a" })], 1002);
  expect(again!.duplicate).toBe(false);
});

test("leases live in memory: claiming durable tasks, renewing and handing back commit nothing; an outcome commits once", async () => {
  let commits = 0;
  const store = open({ path: tempPath(), onCommit: () => commits++ });
  // The first claim reserves a block of lease tokens: one commit, then none for the next 10,000.
  await store.submit([task({ priority: 9 })], 999);
  const [warmUp] = await store.claim({ queues: ["default"], workerId: "w0", max: 1, nowMs: 999 });
  await store.release([{ id: warmUp!.task.id, token: warmUp!.token }], 999);
  const [first] = await store.submit([task(), task()], 1000);
  const afterSubmit = commits;
  const leases = await store.claim({ queues: ["default"], workerId: "w1", max: 2, nowMs: 1001 });
  expect(leases).toHaveLength(2);
  expect(await store.renew(leases.map((l) => ({ id: l.task.id, token: l.token })), 1002)).toEqual([1002 + 30_000, 1002 + 30_000]);
  await store.release([{ id: leases[1]!.task.id, token: leases[1]!.token }], 1003);
  await new Promise((resolve) => setImmediate(resolve));
  expect(commits).toBe(afterSubmit);
  await store.complete({ id: first!.id, token: leases[0]!.token }, { result: null, resultIsJson: false }, 1004);
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
    store.claim({ queues: ["default"], workerId: "w", max: 1, nowMs: 1000 }),
  ]);
  expect(submitted.status).toBe("rejected");
  expect(claimed.status).toBe("rejected");
  expect(((claimed as PromiseRejectedResult).reason as BrokerError).code).toBe(ErrorCode.StorageUnavailable);
  expect(store.counts()).toMatchObject({ pending: 0, inProgress: 0 });
});

test("a batch claim stops before one reply frame is full; what did not fit stays first in line, in order", async () => {
  const store = open({ path: tempPath() });
  const big = new Uint8Array(1024 * 1024);
  const submitted = await store.submit(Array.from({ length: 40 }, () => task({ payload: big })), 1000);
  const claimed: string[] = [];
  for (let round = 0; round < 10 && claimed.length < 40; round++) {
    const batch = await store.claim({ queues: ["default"], workerId: "w", max: 40, nowMs: 1001 + round });
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
  const page = await store.list({ limit: 20 });
  expect(page.tasks.length).toBeLessThan(20);
  expect(page.nextCursor).not.toBeNull();
  const next = await store.list({ limit: 20, cursor: page.nextCursor! });
  expect(next.tasks[0]!.id).toBe(submitted[page.tasks.length]!.id);
});

/** A WAL sync the test completes by hand: `pending` holds the callbacks of syncs in flight. */
function manualSync(): { pending: ((err: Error | null) => void)[]; syncWal: (done: (err: Error | null) => void) => void } {
  const pending: ((err: Error | null) => void)[] = [];
  return { pending, syncWal: (done) => void pending.push(done) };
}

const STATUS_PENDING = 0;
const STATUS_COMPLETED = 3;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test("sync full: a group is acknowledged only after a sync that started after its COMMIT; groups committed meanwhile share the next", async () => {
  const { pending, syncWal } = manualSync();
  const store = open({ path: tempPath(), syncWal });
  let firstAcked = false;
  const first = store.submit([task({ type: "a" })], 1000).then((out) => ((firstAcked = true), out));
  await turn();
  expect(pending).toHaveLength(1);
  // Committed, so visible and claimable, but not acknowledged.
  expect(firstAcked).toBe(false);
  expect(store.pendingCount()).toBe(1);
  const second = store.submit([task({ type: "b" })], 1000);
  const third = store.submit([task({ type: "c" })], 1000);
  await turn();
  // One sync at a time: the second group waits for the next one.
  expect(pending).toHaveLength(1);
  pending.shift()!(null);
  await first;
  expect(firstAcked).toBe(true);
  expect(pending).toHaveLength(1);
  pending.shift()!(null);
  const [[b], [c]] = await Promise.all([second, third]);
  expect([b!.status, c!.status]).toEqual(["pending", "pending"]);
  expect(store.commitStats().ops).toBeGreaterThanOrEqual(3);
});

/** Settles `promise`, completing every sync it waits for (a claim may wait for a lease-token block). */
async function withSyncs<T>(pending: ((err: Error | null) => void)[], promise: Promise<T>): Promise<T> {
  let done = false;
  void promise.finally(() => (done = true)).catch(() => {});
  while (!done) {
    await turn();
    while (pending.length > 0) pending.shift()!(null);
  }
  return promise;
}

test("sync full: completions wait for the sync in flight, then commit as one group; work that makes tasks ready, or a read, commits at once", async () => {
  const { pending, syncWal } = manualSync();
  const path = tempPath();
  const store = open({ path, syncWal });
  await withSyncs(pending, store.submit([task(), task(), task()], 1000));
  const leases = await withSyncs(pending, store.claim({ queues: ["default"], workerId: "w", max: 3, nowMs: 1000 }));
  expect(leases).toHaveLength(3);
  // Another connection sees only what is committed.
  const reader = new Database(path, { readonly: true });
  const statusOf = (i: number): number => (reader.query("SELECT status FROM tasks WHERE id = ?").get(leases[i]!.idBytes!) as { status: number }).status;
  const countOf = (type: string): number => (reader.query("SELECT count(*) AS n FROM tasks WHERE type = ?").get(type) as { n: number }).n;
  const complete = (i: number) => store.report([{ lease: { id: leases[i]!.task.id, token: leases[i]!.token }, completed: { result: null, resultIsJson: false } }], 1001);

  const first = store.submit([task({ type: "first" })], 1001);
  await turn();
  expect(pending).toHaveLength(1);
  const done0 = complete(0);
  const done1 = complete(1);
  await turn();
  await turn();
  expect(statusOf(0)).toBe(STATUS_PENDING);
  expect(statusOf(1)).toBe(STATUS_PENDING);
  // A task made ready commits while the sync is still in flight, and the waiting completions with it.
  const second = store.submit([task({ type: "second" })], 1001);
  await turn();
  expect(countOf("second")).toBe(1);
  expect([statusOf(0), statusOf(1)]).toEqual([STATUS_COMPLETED, STATUS_COMPLETED]);
  expect(pending).toHaveLength(1);
  pending.shift()!(null);
  await first;
  await turn();
  // The next sync covers that group; a completion waits for it, until a read comes.
  expect(pending).toHaveLength(1);
  const done2 = complete(2);
  await turn();
  await turn();
  expect(statusOf(2)).toBe(STATUS_PENDING);
  expect((await store.get(leases[2]!.task.id))!.status).toBe("completed");
  expect(statusOf(2)).toBe(STATUS_COMPLETED);
  await withSyncs(pending, Promise.all([second, done0, done1, done2]));
  reader.close();
});

test("sync full: a failed fsync rejects what it covered and everything after, and reports it once", async () => {
  const { pending, syncWal } = manualSync();
  const fatal: unknown[] = [];
  const store = open({ path: tempPath(), syncWal, onFatal: (err) => fatal.push(err) });
  const first = store.submit([task()], 1000);
  await turn();
  pending.shift()!(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
  const err = await first.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BrokerError);
  expect((err as BrokerError).code).toBe(ErrorCode.StorageUnavailable);
  expect((err as BrokerError).message).toContain("fsync failed: EIO");
  expect(fatal).toHaveLength(1);
  // No later sync is trusted: the next group is rejected without asking the disk again.
  const later = await store.submit([task()], 1001).catch((e: unknown) => e);
  expect((later as BrokerError).code).toBe(ErrorCode.StorageUnavailable);
  expect(pending).toHaveLength(0);
  expect(fatal).toHaveLength(1);
});

test("sync full with the real WAL fdatasync: acknowledged submits survive a reopen", async () => {
  const path = tempPath();
  const store = open({ path, sync: "full" });
  const outs = await Promise.all(Array.from({ length: 50 }, (_, i) => store.submit([task({ type: `t${i}` })], 1000)));
  expect(outs.flat()).toHaveLength(50);
  expect(store.commitStats().ops).toBeGreaterThanOrEqual(50);
  await store.close();
  const again = open({ path });
  expect(again.pendingCount()).toBe(50);
});

test("a schema-1 database migrates: completed rows leave the status index, recovery and lists still see every task", async () => {
  const path = tempPath();
  const v1 = new Database(path, { create: true, strict: true });
  v1.exec("PRAGMA journal_mode = WAL");
  v1.exec(MIGRATIONS[0]!);
  v1.exec("PRAGMA user_version = 1");
  const insert = v1.prepare(
    `INSERT INTO tasks (id, type, queue, payload, flags, priority, status, max_retries, lease_ms, created_at, updated_at, finished_at)
     VALUES (?, 'email', 'default', x'00', 0, 100, ?, 3, 30000, 1000, 1000, ?)`,
  );
  const statuses = [0, 3, 0, 5, 3, 1];
  statuses.forEach((status, i) => insert.run(uuidv7Bytes(1000 + i), status, status === 3 || status === 5 ? 1500 : null));
  v1.close();

  const store = open({ path });
  expect(store.pendingCount()).toBe(2);
  expect((await store.list({ status: "completed", limit: 10 })).tasks).toHaveLength(2);
  expect((await store.list({ status: "dead", limit: 10 })).tasks).toHaveLength(1);
  await store.close();
  const db = new Database(path);
  const indexes = (db.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks'").values() as string[][]).map((r) => r[0]);
  expect(indexes).toContain("tasks_open_status_seq");
  expect(indexes).not.toContain("tasks_status_seq");
  expect(indexes).not.toContain("tasks_finished_at");
  expect((db.query("PRAGMA user_version").get() as { user_version: number }).user_version).toBe(MIGRATIONS.length);
  db.close();
});

test("retention walks completed rows in bounded steps, keeps live and newer ones, and finds late finishers next pass", async () => {
  const store = open({ path: tempPath() });
  // Old tasks (created at 1000): 300 to complete, then one that stays leased, then 300 more.
  const first = await store.submit(Array.from({ length: 300 }, () => task()), 1000);
  const [late] = await store.submit([task({ priority: 250 })], 1000);
  const second = await store.submit(Array.from({ length: 300 }, () => task()), 1000);
  const newer = await store.submit(Array.from({ length: 5 }, () => task()), 5000);
  const [lateLease] = await store.claim({ queues: ["default"], workerId: "slow", max: 1, nowMs: 1000 });
  expect(lateLease!.task.id).toBe(late!.id);
  const leases = await store.claim({ queues: ["default"], workerId: "w", max: 1000, nowMs: 1000 });
  const done = new Set([...first, ...second].map((o) => o.id));
  await Promise.all(
    leases.filter((l) => done.has(l.task.id)).map((l) => store.complete({ id: l.task.id, token: l.token }, { result: null, resultIsJson: false }, 1500)),
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
  await store.complete({ id: late!.id, token: lateLease!.token }, { result: null, resultIsJson: false }, 1800);
  expect(await store.purgeFinished(2000, 100)).toEqual({ purged: 1, done: true });
  expect(await store.get(late!.id)).toBeNull();
});

test("a checkpoint runs per checkpointStepBytes of new WAL, not after every commit once the file has grown", async () => {
  const path = tempPath();
  const step = 256 * 1024;
  const store = open({ path, checkpointStepBytes: step, walSyncIntervalMs: 3_600_000, checkpointIn: "inline" });
  const payload = new Uint8Array(200);
  for (let g = 0; g < 200; g++) await store.submit(Array.from({ length: 50 }, () => task({ payload })), 1000);
  const { commits, checkpoints } = store.commitStats();
  // ~200 groups of ~15 KiB of WAL each: about 3 MiB in all, so about a dozen steps of 256 KiB. The
  // WAL file, restarted after each complete checkpoint, stays at its first size: judged by the
  // file's size, every commit after the first step would have run one (~190).
  expect(commits).toBeGreaterThanOrEqual(200);
  expect(checkpoints).toBeGreaterThan(3);
  expect(checkpoints).toBeLessThan(40);
  expect(statSync(`${path}-wal`).size).toBeLessThan(4 * step);
  expect(store.pendingCount()).toBe(10_000);
});

test("a report of several results is one store operation: a stale item fails alone, the others commit together", async () => {
  const store = open({ path: tempPath() });
  await store.submit([task(), task(), task(), task({ maxRetries: 0 })], 1000);
  const [a, b, c, d] = await store.claim({ queues: ["default"], workerId: "w1", max: 4, nowMs: 1000 });
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
  const leases = await store.claim({ queues: ["default"], workerId: "w1", max: 150, nowMs: 1000 });
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
  expect(store.counts().inProgress).toBe(50);
});
