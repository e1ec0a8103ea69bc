// A start after a clean stop (clean-stop.ts, checks-after-open.ts; docs/storage.md "Checks at
// open"): it serves before checking rows and indexes, and checks them right after; anything that
// may have touched the file since the stop (a write, a copy, a crash, unfinished checks) brings
// every check back before serving. Damage the record cannot see (a disk that changed under the file
// system, simulated here by stamping the record again after the damage) is found right after
// serving, dealt with and reported. Temp dirs only.

import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { uuidFromString } from "../../../src/protocol/uuid.ts";
import { cleanStopPath, writeCleanStop } from "../../../src/store/sqlite/clean-stop.ts";
import { identityPath } from "../../../src/store/sqlite/db-identity.ts";
import type { QuarantinedRow } from "../../../src/store/sqlite/quarantine.ts";
import { CorruptDatabaseError } from "../../../src/store/sqlite/schema.ts";
import { task } from "../../contract/store.contract.ts";
import { flipByte } from "../../helpers/data-damage.ts";
import { storeHarness } from "../../helpers/sqlite-store-harness.ts";
import { claim } from "../../helpers/store-ops.ts";

const { tempPath, open } = storeHarness();
const enc = new TextEncoder();

/** A database of `n` tasks, closed cleanly after a start whose checks all ran (so its close records the clean stop). */
async function cleanlyStopped(n: number): Promise<{ path: string; ids: string[] }> {
  const path = tempPath();
  const store = open({ path });
  const ids = (await store.submit(Array.from({ length: n }, (_, i) => task({ type: `t${i}`, payload: enc.encode(`payload-${i}`) })), 1000)).map((o) => o.id);
  await store.close();
  return { path, ids };
}

function dbIdOf(path: string): number {
  return (JSON.parse(readFileSync(identityPath(path), "utf8")) as { db_id: number }).db_id;
}

/**
 * Changes the file behind the record's back, then stamps the record again: what a disk changing
 * under the file system looks like to the broker (the damage is in tq.db itself, no WAL left).
 */
async function damageUnderTheRecord(path: string, damage: () => void): Promise<void> {
  expect(existsSync(cleanStopPath(path))).toBe(true);
  damage();
  expect(existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0).toBe(0);
  await writeCleanStop(path, dbIdOf(path));
}

/** Runs `text` on the file and copies the WAL into it. */
function sql(path: string, text: string): void {
  const db = new Database(path);
  db.exec(text);
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
}

test("after a clean stop the store serves first and checks every row and index right after; the record is gone while it runs and back after its close", async () => {
  const { path, ids } = await cleanlyStopped(300);
  expect(existsSync(cleanStopPath(path))).toBe(true);
  const store = open({ path });
  // Removed at open, before anything is written: a crash from here on finds no record.
  expect(existsSync(cleanStopPath(path))).toBe(false);
  expect(store.openChecks).toMatchObject({ rowsAndIndexes: "after serving", beforeServingBecause: null, rowsChecked: 0 });
  expect(await store.pendingCount()).toBe(300);
  const [lease] = await claim(store, { queues: ["default"], max: 1, workerId: "w", nowMs: 2000 });
  expect(lease!.task.id).toBe(ids[0]!);
  expect(await store.checksAfterOpen).toEqual({ rowsChecked: 300, ms: expect.any(Number), damagedRows: [], indexesRebuilt: [], indexFindings: [], ended: "completed", failure: null });
  await store.close();
  expect(existsSync(cleanStopPath(path))).toBe(true);
  expect(open({ path }).openChecks.rowsAndIndexes).toBe("after serving");
});

test("a store closed before its checks after open finished records no clean stop: the next start checks everything before serving", async () => {
  const { path } = await cleanlyStopped(2000);
  const first = open({ path });
  expect(first.openChecks.rowsAndIndexes).toBe("after serving");
  await first.close();
  expect(await first.checksAfterOpen).toMatchObject({ ended: "stopped", failure: null });
  expect(existsSync(cleanStopPath(path))).toBe(false);
  const next = open({ path });
  expect(next.openChecks).toMatchObject({ rowsAndIndexes: "before serving", beforeServingBecause: expect.stringContaining("no record of a clean stop"), rowsChecked: 2000 });
  expect(next.checksAfterOpen).toBeNull();
});

test("the record holds only for the file as it was left: a write (even of the same bytes), another file in its place, or another database id bring every check back before serving", async () => {
  const rewritten = await cleanlyStopped(10);
  // Twice the same flip: the bytes are as they were, but the file was written to.
  flipByte(rewritten.path, 100);
  flipByte(rewritten.path, 100);
  expect(open({ path: rewritten.path }).openChecks.beforeServingBecause).toBe("the database file was written to or its metadata changed");

  const replaced = await cleanlyStopped(10);
  const bytes = readFileSync(replaced.path);
  const record = readFileSync(cleanStopPath(replaced.path));
  writeFileSync(`${replaced.path}.copy`, bytes);
  renameSync(`${replaced.path}.copy`, replaced.path);
  expect(open({ path: replaced.path }).openChecks.beforeServingBecause).toBe("the database file was replaced (another inode)");

  const other = await cleanlyStopped(10);
  writeFileSync(cleanStopPath(other.path), record);
  expect(open({ path: other.path }).openChecks.beforeServingBecause).toBe("the clean stop's record is not for the database tq.db-id names");
});

test("damage under a clean stop's record: a row failing its checksums is never served, is quarantined right after serving and reported", async () => {
  const { path, ids } = await cleanlyStopped(50);
  await damageUnderTheRecord(path, () => sql(path, "UPDATE tasks SET payload = CAST('payload-X' AS BLOB) WHERE type = 't7'"));
  const moved: QuarantinedRow[] = [];
  const store = open({ path, onQuarantine: (rows) => moved.push(...rows) });
  expect(store.openChecks.rowsAndIndexes).toBe("after serving");
  // Before the checks reach it: every whole-row read checks the row.
  await expect(store.get(ids[7]!)).rejects.toThrow(/quarantined: its fixed fields/);
  const report = (await store.checksAfterOpen)!;
  expect(report).toMatchObject({ rowsChecked: 50, indexesRebuilt: [], ended: "completed", failure: null });
  expect(report.damagedRows).toEqual([{ seq: expect.any(Number), id: ids[7]!, reason: expect.stringContaining("fixed fields") }]);
  expect(moved.map((r) => r.id)).toEqual([ids[7]!]);
  const claimed = await claim(store, { queues: ["default"], max: 100, workerId: "w", nowMs: 2000 });
  expect(claimed.map((l) => l.task.id)).toEqual(ids.filter((_, i) => i !== 7));
  await store.close();
  const db = new Database(path, { readonly: true });
  expect(db.query("SELECT type FROM quarantine").all()).toEqual([{ type: "t7" }]);
  db.close();
});

test("damage under a clean stop's record: an index entry out of step is found right after serving and rebuilt, and every task is found by id", async () => {
  const { path, ids } = await cleanlyStopped(200);
  // The id of task 77 in the id index's entry (an index leaf page: type byte 0x0a).
  const id = Buffer.from(uuidFromString(ids[77]!)!);
  await damageUnderTheRecord(path, () => {
    const bytes = readFileSync(path);
    const pageSize = bytes.readUInt16BE(16);
    let inIndex = -1;
    for (let at = bytes.indexOf(id); at >= 0 && inIndex < 0; at = bytes.indexOf(id, at + 1)) {
      if (bytes[Math.floor(at / pageSize) * pageSize] === 0x0a) inIndex = at;
    }
    expect(inIndex).toBeGreaterThan(0);
    flipByte(path, inIndex + 15);
  });
  const store = open({ path });
  expect(store.openChecks.rowsAndIndexes).toBe("after serving");
  const report = (await store.checksAfterOpen)!;
  expect(report).toMatchObject({ damagedRows: [], indexesRebuilt: ["sqlite_autoindex_tasks_1"], ended: "completed", failure: null });
  expect(report.indexFindings.join("; ")).toMatch(/index sqlite_autoindex_tasks_1 has no entry for 1 row/);
  for (const taskId of ids) expect((await store.get(taskId))?.id).toBe(taskId);
});

test("under a clean stop's record, damaged pages and a schema version that does not match still refuse the start before serving", async () => {
  const pages = await cleanlyStopped(2000);
  await damageUnderTheRecord(pages.path, () => {
    const bytes = readFileSync(pages.path);
    // The free list and index pages are not read by the memory load: only the structure check sees them.
    for (let i = 4096 * 3; i < bytes.length - 4096; i += 4096) bytes.fill(0x5a, i + 100, i + 1200);
    writeFileSync(pages.path, bytes);
  });
  expect(() => open({ path: pages.path })).toThrow(CorruptDatabaseError);

  const schema = await cleanlyStopped(10);
  await damageUnderTheRecord(schema.path, () => sql(schema.path, "PRAGMA user_version = 2"));
  expect(() => open({ path: schema.path })).toThrow(/schema version 2 \(PRAGMA user_version\) does not match the tables in the file/);
});

test("checks after open that fail (here the index rebuild cannot commit) say so, and the stop records nothing: the next start checks everything first", async () => {
  const { path, ids } = await cleanlyStopped(100);
  const id = Buffer.from(uuidFromString(ids[40]!)!);
  await damageUnderTheRecord(path, () => {
    const bytes = readFileSync(path);
    const pageSize = bytes.readUInt16BE(16);
    let inIndex = -1;
    for (let at = bytes.indexOf(id); at >= 0 && inIndex < 0; at = bytes.indexOf(id, at + 1)) {
      if (bytes[Math.floor(at / pageSize) * pageSize] === 0x0a) inIndex = at;
    }
    flipByte(path, inIndex + 15);
  });
  let diskFull = false;
  const store = open({
    path,
    beforeCommit: () => {
      if (diskFull) throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    },
  });
  diskFull = true;
  const report = (await store.checksAfterOpen)!;
  expect(report).toMatchObject({ ended: "failed", failure: expect.stringContaining("could not commit"), indexesRebuilt: [] });
  diskFull = false;
  await store.close();
  expect(existsSync(cleanStopPath(path))).toBe(false);
  const next = open({ path });
  expect(next.openChecks.rowsAndIndexes).toBe("before serving");
  expect(next.dataLoss?.indexesRebuilt).toEqual(["sqlite_autoindex_tasks_1"]);
});

