// Sync full's acknowledgement rule: a group is acknowledged only once an fsync of the WAL that
// started after its COMMIT covers it, with the fsync replaced by a hand-driven one (syncWal), and
// once with the real fdatasync. Temp dirs only; no sleeps.

import { uuidFromString } from "../../../src/protocol/uuid.ts";
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { BrokerError, ErrorCode } from "../../../src/protocol/errors.ts";
import { task } from "../../contract/store.contract.ts";
import { storeHarness } from "../../helpers/sqlite-store-harness.ts";
import { claim } from "../../helpers/store-ops.ts";

const { tempPath, open } = storeHarness();

/** A WAL sync the test completes by hand: `pending` holds the callbacks of syncs in flight. */
function manualSync(): { pending: ((err: Error | null) => void)[]; syncWal: (done: (err: Error | null) => void) => void } {
  const pending: ((err: Error | null) => void)[] = [];
  return { pending, syncWal: (done) => void pending.push(done) };
}

const STATUS_PENDING = 0;
const STATUS_COMPLETED = 3;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Lets `ms` pass in event-loop turns (no timer of its own that a held group could share). */
async function turnsFor(ms: number): Promise<void> {
  const since = performance.now();
  while (performance.now() - since < ms) await turn();
}

test("sync full: a group is acknowledged only after a sync that started after its COMMIT; groups committed meanwhile share the next", async () => {
  const { pending, syncWal } = manualSync();
  const store = open({ path: tempPath(), syncWal });
  let firstAcked = false;
  const first = store.submit([task({ type: "a" })], 1000).then((out) => ((firstAcked = true), out));
  await turn();
  expect(pending).toHaveLength(1);
  // Committed, so visible and claimable, but not acknowledged.
  expect(firstAcked).toBe(false);
  expect((await store.pendingCount())).toBe(1);
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
  const leases = await withSyncs(pending, claim(store, { queues: ["default"], workerId: "w", max: 3, nowMs: 1000 }));
  expect(leases).toHaveLength(3);
  // Another connection sees only what is committed.
  const reader = new Database(path, { readonly: true });
  const statusOf = (i: number): number => (reader.query("SELECT status FROM tasks WHERE id = ?").get(uuidFromString(leases[i]!.task.id)!) as { status: number }).status;
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

test("sync full: a failed fsync answers what it covered and everything after OutcomeUnknown (committed, maybe not durable), and reports it once", async () => {
  const { pending, syncWal } = manualSync();
  const fatal: unknown[] = [];
  const store = open({ path: tempPath(), syncWal, onFatal: (err) => fatal.push(err) });
  const first = store.submit([task()], 1000);
  await turn();
  pending.shift()!(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
  const err = await first.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BrokerError);
  expect((err as BrokerError).code).toBe(ErrorCode.OutcomeUnknown);
  expect((err as BrokerError).message).toContain("fsync of the WAL failed: EIO");
  expect(fatal).toHaveLength(1);
  // No later sync is trusted: the next group is rejected without asking the disk again.
  const later = await store.submit([task()], 1001).catch((e: unknown) => e);
  expect((later as BrokerError).code).toBe(ErrorCode.OutcomeUnknown);
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
  expect((await again.pendingCount())).toBe(50);
});

/**
 * A store with one claimed task per lease asked for, a reader on the file, and helpers to look at
 * committed rows and complete leases (as results that may wait: Store.report's mayWait).
 */
async function withLeases(count: number, resultsWaitMs: number) {
  const { pending, syncWal } = manualSync();
  const path = tempPath();
  const store = open({ path, syncWal, resultsWaitMs });
  // Two submits in a row, as at a steady rate: results then expect more to come (companyLikely).
  await withSyncs(pending, store.submit([task({ queue: "other" })], 1000));
  await withSyncs(pending, store.submit(Array.from({ length: count }, () => task()), 1000));
  const leases = await withSyncs(pending, claim(store, { queues: ["default"], workerId: "w", max: count, nowMs: 1000 }));
  expect(leases).toHaveLength(count);
  const reader = new Database(path, { readonly: true });
  const statusOf = (i: number): number => (reader.query("SELECT status FROM tasks WHERE id = ?").get(uuidFromString(leases[i]!.task.id)!) as { status: number }).status;
  const countOf = (type: string): number => (reader.query("SELECT count(*) AS n FROM tasks WHERE type = ?").get(type) as { n: number }).n;
  let acked = 0;
  const complete = (i: number, mayWait = true) =>
    store.report([{ lease: { id: leases[i]!.task.id, token: leases[i]!.token }, completed: { result: null, resultIsJson: false } }], 1001, mayWait).then((out) => {
      acked++;
      return out;
    });
  return { store, pending, reader, statusOf, countOf, complete, acked: () => acked };
}

/** The result is in the file after its own flush (it did not wait), one sync was asked for, and it is acknowledged after it. */
async function committedAtItsFlush(pending: ((err: Error | null) => void)[], status: () => number, done: Promise<unknown>): Promise<void> {
  await turn();
  await turn();
  expect(status()).toBe(STATUS_COMPLETED);
  expect(pending).toHaveLength(1);
  await withSyncs(pending, done);
}

test("sync full: a group of results alone waits for the next submit and shares its COMMIT and its sync; it is acknowledged only after that sync", async () => {
  // A wait far longer than the test: only the submit can end it.
  const { store, pending, reader, statusOf, countOf, complete, acked } = await withLeases(2, 60_000);
  const commitsBefore = store.commitStats().commits;
  const done0 = complete(0);
  const done1 = complete(1);
  await turn();
  await turn();
  // Held open: not in the file, no sync asked for, not acknowledged.
  expect([statusOf(0), statusOf(1)]).toEqual([STATUS_PENDING, STATUS_PENDING]);
  expect(pending).toHaveLength(0);
  expect(acked()).toBe(0);
  const submitted = store.submit([task({ type: "next" })], 1002);
  await turn();
  // One COMMIT for the submit and both results, one sync for all three.
  expect(countOf("next")).toBe(1);
  expect([statusOf(0), statusOf(1)]).toEqual([STATUS_COMPLETED, STATUS_COMPLETED]);
  expect(pending).toHaveLength(1);
  await turn();
  expect(acked()).toBe(0);
  pending.shift()!(null);
  await Promise.all([done0, done1, submitted]);
  expect(acked()).toBe(2);
  expect(store.commitStats().commits - commitsBefore).toBe(1);
  reader.close();
});

test("sync full: a result alone is committed once its wait ends when nothing else comes, and acknowledged only after a sync", async () => {
  const { pending, reader, statusOf, complete, acked } = await withLeases(1, 200);
  const done = complete(0);
  // Bounded by the test's timeout: the wait ends, the group commits and asks for a sync.
  while (pending.length === 0) await turn();
  expect(statusOf(0)).toBe(STATUS_COMPLETED);
  await turn();
  expect(acked()).toBe(0);
  pending.shift()!(null);
  await done;
  expect(acked()).toBe(1);
  reader.close();
});

test("sync full: a submit that makes nothing ready (a delayed task) also ends the wait of the results before it", async () => {
  const { store, pending, reader, statusOf, countOf, complete } = await withLeases(1, 60_000);
  const done = complete(0);
  await turn();
  await turn();
  expect(statusOf(0)).toBe(STATUS_PENDING);
  const delayed = store.submit([task({ type: "delayed", runAtMs: 60_000 })], 1002);
  await turn();
  await turn();
  expect(countOf("delayed")).toBe(1);
  expect(statusOf(0)).toBe(STATUS_COMPLETED);
  await withSyncs(pending, Promise.all([done, delayed]));
  reader.close();
});

test("sync full: results with no submit committed within the wait (a drain, a quiet broker, a slow trickle) do not wait: nothing is likely to join them", async () => {
  const { pending, reader, statusOf, complete } = await withLeases(1, 20);
  // Let the wait's length pass since the last submit's COMMIT.
  await turnsFor(25);
  await committedAtItsFlush(pending, () => statusOf(0), complete(0));
  reader.close();
});

test("sync full: results right after a submit do not wait when submits come further apart than the wait (a slow trickle)", async () => {
  const { pending, syncWal } = manualSync();
  const path = tempPath();
  const store = open({ path, syncWal, resultsWaitMs: 20 });
  await withSyncs(pending, store.submit([task()], 1000));
  const [lease] = await withSyncs(pending, claim(store, { queues: ["default"], workerId: "w", max: 1, nowMs: 1000 }));
  await turnsFor(25);
  await withSyncs(pending, store.submit([task({ queue: "other" })], 1001));
  const done = store.report([{ lease: { id: lease!.task.id, token: lease!.token }, completed: { result: null, resultIsJson: false } }], 1001, true);
  const reader = new Database(path, { readonly: true });
  await committedAtItsFlush(pending, () => (reader.query("SELECT status FROM tasks WHERE id = ?").get(uuidFromString(lease!.task.id)!) as { status: number }).status, done);
  reader.close();
});

test("sync full: a result that may not wait (the broker's default: a claim-based worker, or someone waiting on it) commits at its flush", async () => {
  const { pending, reader, statusOf, complete } = await withLeases(1, 60_000);
  await committedAtItsFlush(pending, () => statusOf(0), complete(0, false));
  reader.close();
});
