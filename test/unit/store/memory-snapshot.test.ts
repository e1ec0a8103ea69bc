// The memory snapshot a clean stop writes (memory-snapshot.ts; docs/storage.md "Checks at open"):
// the next start fills its ready index and finished counts from it instead of reading every row,
// and must end up with what reading every row gives — the same counts, the same tasks claimed in
// the same order, leases of the stopped run ready again. A snapshot that is not whole, is for
// another state of the file, or disagreed with the file at the stop is not used. Temp dirs only.

import { expect, test } from "bun:test";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { memorySnapshotPath } from "../../../src/store/sqlite/memory-snapshot.ts";
import type { SqliteStore } from "../../../src/store/sqlite/sqlite-store.ts";
import type { MemoryState } from "../../../src/store/sqlite/memory-state.ts";
import { cleanStopPath, writeCleanStop, type CleanStop } from "../../../src/store/sqlite/clean-stop.ts";
import { uuidFromString } from "../../../src/protocol/uuid.ts";
import { flipByte } from "../../helpers/data-damage.ts";
import { identityPath } from "../../../src/store/sqlite/db-identity.ts";
import { task } from "../../contract/store.contract.ts";
import { storeHarness } from "../../helpers/sqlite-store-harness.ts";
import { claim, complete, fail } from "../../helpers/store-ops.ts";

const { tempPath, open } = storeHarness();
const T0 = 1_000_000;

/**
 * A store closed cleanly with every kind of row: two queues, several priorities, scheduled tasks,
 * a failed one waiting for its retry, completed, dead and cancelled ones, a task cancelled while
 * pending and retried (its old ready entry is dead, a new one live), one handed back, and two
 * leases still held at the stop.
 */
async function busyStore(path: string): Promise<void> {
  const store = open({ path });
  const tasks = [];
  for (let i = 0; i < 60; i++) tasks.push(task({ queue: i % 3 === 0 ? "b" : "a", priority: [10, 50, 200][i % 3]!, type: `t${i}` }));
  const ids = (await store.submit(tasks, T0)).map((o) => o.id);
  await store.submit([task({ queue: "a", runAtMs: T0 + 3_600_000, type: "later" }), task({ queue: "b", runAtMs: T0 + 7_200_000, type: "later2" })], T0);
  const leases = (await claim(store, { queues: ["a", "b"], max: 6, workerId: "w", nowMs: T0 + 10 })).map((l) => ({ id: l.task.id, token: l.token }));
  expect(leases.length).toBe(6);
  await complete(store, leases[0]!, { result: new Uint8Array([1]), resultIsJson: false }, T0 + 20);
  await fail(store, leases[1]!, { error: "again", unrecoverable: false }, T0 + 20);
  await fail(store, leases[2]!, { error: "never", unrecoverable: true }, T0 + 20);
  await store.release([leases[3]!], T0 + 30);
  // leases[4] and [5] are still held at the stop.
  await store.cancel(ids[40]!, T0 + 40);
  await store.cancel(ids[41]!, T0 + 40);
  await store.retry(ids[41]!, T0 + 50);
  await store.close();
}

/** Everything memory says, and the order claims take the tasks in, queue by queue (draining the store). */
async function observe(store: SqliteStore): Promise<unknown> {
  const counts = await store.counts();
  // A handed-back task is ready since its hand-back in memory, since its last write in the file.
  const withoutTimes = { ...counts, queues: counts.queues.map((q) => ({ ...q, oldestReadyAtMs: null })) };
  const order: Record<string, string[]> = {};
  for (const queue of ["a", "b"]) {
    order[queue] = [];
    for (;;) {
      const got = await claim(store, { queues: [queue], max: 7, workerId: "x", nowMs: T0 + 100 });
      if (got.length === 0) break;
      order[queue]!.push(...got.map((l) => l.task.type));
    }
  }
  return { counts: withoutTimes, order };
}

function memOf(store: SqliteStore): MemoryState {
  return (store as unknown as { mem: MemoryState }).mem;
}

test("after a clean stop, memory comes from the stop's snapshot and holds what reading every row gives: counts, claim order, and the stopped run's leases ready again", async () => {
  const path = tempPath();
  await busyStore(path);
  expect(existsSync(memorySnapshotPath(path))).toBe(true);
  // The same file read row by row: a copy is another inode, so its start checks (and reads) every row.
  const copy = tempPath();
  copyFileSync(path, copy);
  copyFileSync(identityPath(path), identityPath(copy));

  const fromSnapshot = open({ path });
  expect(fromSnapshot.memoryFrom).toEqual({ source: "snapshot", snapshotUnused: null });
  expect(fromSnapshot.openChecks.rowsAndIndexes).toBe("after serving");
  // Taken at open: no snapshot outlives the start after the stop that wrote it.
  expect(existsSync(memorySnapshotPath(path))).toBe(false);
  const fromRows = open({ path: copy });
  expect(fromRows.memoryFrom.source).toBe("checked rows");

  const counts = await fromSnapshot.counts();
  expect(counts).toMatchObject({ pending: 56, scheduled: 3, retrying: 1, completed: 1, dead: 1, cancelled: 1 });
  expect(await observe(fromSnapshot)).toEqual(await observe(fromRows));
});

test("a snapshot that is not whole, or was written for an earlier state of the file, is not used: memory is read from the rows", async () => {
  const path = tempPath();
  await busyStore(path);
  const earlier = readFileSync(memorySnapshotPath(path));

  // A flipped byte in the snapshot's body fails its checksum.
  const damaged = Uint8Array.from(earlier);
  damaged[damaged.length - 3]! ^= 0x40;
  writeFileSync(memorySnapshotPath(path), damaged);
  const first = open({ path });
  expect(first.memoryFrom).toEqual({ source: "table", snapshotUnused: expect.stringContaining("not whole") });
  expect((await first.counts()).pending).toBe(56);
  await first.checksAfterOpen;
  await first.submit([task({ queue: "a", type: "new" })], T0 + 200);
  await first.close();
  expect(existsSync(cleanStopPath(path))).toBe(true);

  // The first stop's snapshot, put back after the file changed: whole, but not for this file.
  writeFileSync(memorySnapshotPath(path), earlier);
  const second = open({ path });
  expect(second.openChecks.rowsAndIndexes).toBe("after serving");
  expect(second.memoryFrom).toEqual({ source: "table", snapshotUnused: "the snapshot is for another file or database" });
  expect((await second.counts()).pending).toBe(57);
});

test("memory that does not agree with the file at the stop writes no snapshot (the next start reads every row), and says why", async () => {
  const path = tempPath();
  const store = open({ path });
  await store.submit([task(), task()], T0);
  const logged: string[] = [];
  await store.close();
  const again = open({ path, log: (msg, fields) => logged.push(`${msg} ${JSON.stringify(fields)}`) });
  expect(again.memoryFrom.source).toBe("snapshot");
  await again.checksAfterOpen;
  // A ready entry for a row that is not in the file.
  memOf(again).ready.push("default", 999_999, 100, T0);
  await again.close();
  expect(logged.join("\n")).toContain("no memory snapshot written");
  expect(existsSync(cleanStopPath(path))).toBe(true);
  expect(existsSync(memorySnapshotPath(path))).toBe(false);
  const third = open({ path });
  expect(third.memoryFrom).toEqual({ source: "table", snapshotUnused: expect.stringContaining("no snapshot") });
  expect((await third.counts()).pending).toBe(2);
});

test("a start that checks everything before serving removes the snapshot unused (it may describe a file since changed)", async () => {
  const path = tempPath();
  await busyStore(path);
  const snapshot = readFileSync(memorySnapshotPath(path));
  const first = open({ path });
  // Stopped before its checks after serving finished: no record, so the next start checks everything.
  await first.close();
  expect(existsSync(cleanStopPath(path))).toBe(false);
  writeFileSync(memorySnapshotPath(path), snapshot);
  const next = open({ path });
  expect(next.openChecks.rowsAndIndexes).toBe("before serving");
  expect(next.memoryFrom.source).toBe("checked rows");
  expect(existsSync(memorySnapshotPath(path))).toBe(false);
});

/** Re-binds the snapshot to the file as the (re-written) record stamps it: the snapshot a stop would have written for it. */
function rebindSnapshot(path: string): void {
  const record = JSON.parse(readFileSync(cleanStopPath(path), "utf8")) as CleanStop;
  const bytes = readFileSync(memorySnapshotPath(path));
  const headerLength = bytes.readUInt32LE(0);
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as { file: unknown };
  const body = bytes.subarray((8 + headerLength + 7) & ~7);
  const headerBytes = Buffer.from(JSON.stringify({ ...header, file: record.file }));
  const out = Buffer.alloc(((8 + headerBytes.length + 7) & ~7) + body.length);
  out.writeUInt32LE(headerBytes.length, 0);
  out.writeUInt32LE(Bun.hash.crc32(headerBytes), 4);
  headerBytes.copy(out, 8);
  body.copy(out, (8 + headerBytes.length + 7) & ~7);
  writeFileSync(memorySnapshotPath(path), out);
}

test("when the checks after serving rebuild an index a snapshot was checked against, memory is read again from the table", async () => {
  const path = tempPath();
  const store = open({ path });
  const ids = (await store.submit(Array.from({ length: 200 }, (_, i) => task({ type: `t${i}` })), T0)).map((o) => o.id);
  await store.close();
  const dbId = (JSON.parse(readFileSync(identityPath(path), "utf8")) as { db_id: number }).db_id;
  // A disk changing an index entry under the file system: the record and snapshot as a stop would have written them for it.
  const id = Buffer.from(uuidFromString(ids[77]!)!);
  const bytes = readFileSync(path);
  const pageSize = bytes.readUInt16BE(16);
  let inIndex = -1;
  for (let at = bytes.indexOf(id); at >= 0 && inIndex < 0; at = bytes.indexOf(id, at + 1)) {
    if (bytes[Math.floor(at / pageSize) * pageSize] === 0x0a) inIndex = at;
  }
  expect(inIndex).toBeGreaterThan(0);
  flipByte(path, inIndex + 15);
  await writeCleanStop(path, dbId);
  rebindSnapshot(path);

  const again = open({ path });
  expect(again.memoryFrom).toEqual({ source: "snapshot", snapshotUnused: null });
  const report = (await again.checksAfterOpen)!;
  expect(report).toMatchObject({ damagedRows: [], indexesRebuilt: ["sqlite_autoindex_tasks_1"], ended: "completed" });
  expect(again.memoryFrom).toEqual({ source: "table", snapshotUnused: "the indexes it was checked against were rebuilt after serving" });
  expect((await again.counts()).pending).toBe(200);
  const claimed = await claim(again, { queues: ["default"], max: 200, workerId: "w", nowMs: T0 + 10 });
  expect(claimed.map((l) => l.task.id)).toEqual(ids);
});

test("captureMemory puts every level in seq order, whatever order memory holds it in, with the leased tasks merged in at their row's time", async () => {
  const { captureMemory } = await import("../../../src/store/sqlite/memory-snapshot.ts");
  const { MemoryState } = await import("../../../src/store/sqlite/memory-state.ts");
  let s = 7;
  const rand = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (const shape of ["sorted with a shuffled tail", "shuffled", "reversed"]) {
    const mem = new MemoryState();
    const seqs = Array.from({ length: 500 }, (_, i) => i * 3 + 1);
    if (shape === "shuffled") seqs.sort(() => rand() - 0.5);
    if (shape === "reversed") seqs.reverse();
    if (shape === "sorted with a shuffled tail") seqs.push(...[2, 50, 5, 20].map((x) => x * 3 + 2));
    for (const seq of seqs) mem.ready.push("q", seq, 7, seq * 10);
    const leased = [0, 299, 1000, 2000];
    for (const seq of leased) mem.addLease({ seq, id: `id${seq}`, serial: seq + 1, token: 1, workerId: "w", expiresAtMs: 1, queue: "q", priority: 7, leaseMs: 1, startedAtMs: 0, payloadBytes: 0, runAtMs: null, attempts: 0, maxRetries: 0, flags: 0 });
    const captured = captureMemory(mem, (seq) => seq * 10);
    expect(captured.levels).toHaveLength(1);
    const all = [...seqs, ...leased].sort((a, b) => a - b);
    expect([...captured.levels[0]!.seqs]).toEqual(all);
    expect([...captured.levels[0]!.readyAt]).toEqual(all.map((x) => x * 10));
    expect(captured.pending).toBe(all.length);
  }
});

test("the stop's tally reads indexes only: covering scans, no scan of the table and no sort", async () => {
  const { TALLY_SQL } = await import("../../../src/store/sqlite/memory-snapshot.ts");
  const path = tempPath();
  const store = open({ path });
  await store.close();
  const { Database } = await import("bun:sqlite");
  const db = new Database(path, { readonly: true });
  for (const sql of Object.values(TALLY_SQL)) {
    const plan = (db.query(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join(" | ");
    expect({ sql, plan }).toEqual({ sql, plan: expect.stringMatching(/^(SCAN|SEARCH) tasks USING COVERING INDEX tasks_(open_status_seq|finished)\b[^|]*$/) });
  }
  db.close();
});
