// The WAL and the file's size: checkpoints on the worker or inline, per step of WAL growth, the
// truncation past maxWalBytes, and the space reclaim after a purge. Temp dirs only; no sleeps.

import { expect, test } from "bun:test";
import { statSync } from "node:fs";
import { task } from "../../contract/store.contract.ts";
import { storeHarness } from "../../helpers/sqlite-store-harness.ts";
import { claim, complete } from "../../helpers/store-ops.ts";

const { tempPath, open } = storeHarness();

test("the checkpoint truncates a WAL grown past maxWalBytes", async () => {
  const path = tempPath();
  const store = open({ path, maxWalBytes: 64 * 1024, walSyncIntervalMs: 3_600_000, checkpointIn: "inline" });
  for (let i = 0; i < 5; i++) await store.submit(Array.from({ length: 200 }, () => task({ payload: new Uint8Array(512) })), 1000);
  expect(statSync(`${path}-wal`).size).toBeGreaterThan(64 * 1024);
  store.checkpoint();
  expect(statSync(`${path}-wal`).size).toBe(0);
  expect(store.commitStats().checkpoints).toBe(1);
  expect((await store.pendingCount())).toBe(1000);
});

test("reclaimSpace gives purged pages back to the file system", async () => {
  const path = tempPath();
  const store = open({ path });
  await store.submit(Array.from({ length: 2000 }, () => task({ payload: new Uint8Array(2048) })), 1000);
  const leases = await claim(store, { queues: ["default"], workerId: "w", max: 2000, nowMs: 1000 });
  await Promise.all(leases.map((l) => complete(store, { id: l.task.id, token: l.token }, { result: null, resultIsJson: false }, 1000)));
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
  expect((await store.pendingCount())).toBe(1010);
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
  expect((await store.pendingCount())).toBe(10_000);
});
