// The checks at open (open-checks.ts, issue 19.4/19.5) on real files: the data dir's memory of its
// database (tq.db-id), indexes out of step with the table, and schema versions that do not match
// the file. Each refusal changes nothing; what can be accepted is acted on and listed.

import { uuidFromString } from "../../../src/protocol/uuid.ts";
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { identityPath } from "../../../src/store/sqlite/db-identity.ts";
import { DataLossError } from "../../../src/store/sqlite/open-checks.ts";
import { CorruptDatabaseError, SCHEMA_VERSION } from "../../../src/store/sqlite/schema.ts";
import { task } from "../../contract/store.contract.ts";
import { flipByte } from "../../helpers/data-damage.ts";
import { storeHarness } from "../../helpers/sqlite-store-harness.ts";

const { tempPath, open } = storeHarness();

test("a new database is remembered next to it; a file from an older build is adopted", async () => {
  const path = tempPath();
  await open({ path }).close();
  const remembered = JSON.parse(readFileSync(identityPath(path), "utf8")) as { db_id: number };
  const db = new Database(path, { readonly: true });
  expect(db.query("SELECT value FROM meta WHERE key = 'db_id'").get()).toEqual({ value: remembered.db_id });
  db.close();
  rmSync(identityPath(path));
  const again = open({ path });
  expect(again.dataLoss).toBeNull();
  expect(existsSync(identityPath(path))).toBe(true);
});

test("another database in place of the one the data dir held is refused; accepted, it is adopted", async () => {
  const first = tempPath();
  await open({ path: first }).close();
  const other = tempPath();
  const store = open({ path: other });
  await store.submit([task()], 1000);
  await store.close();
  writeFileSync(first, readFileSync(other));
  expect(() => open({ path: first })).toThrow(/the database file is not the one this data dir held \(database id \d+, expected \d+/);
  const accepted = open({ path: first, acceptDataLoss: true });
  expect(accepted.dataLoss?.lostContent).toContain("not the one this data dir held");
  expect((await accepted.pendingCount())).toBe(1);
  await accepted.close();
  expect(open({ path: first }).dataLoss).toBeNull();
});

test("an index entry out of step with the table is rebuilt (REINDEX), nothing lost, and every task is found by id", async () => {
  const path = tempPath();
  const store = open({ path });
  const submitted = await store.submit(Array.from({ length: 200 }, (_, i) => task({ type: `t${i}` })), 1000);
  await store.close();
  // The id is in the file in its row and in the id index's entry, on an index leaf page (page
  // type byte 0x0a; table leaves are 0x0d, interior pages may repeat it as a divider).
  const id = Buffer.from(uuidFromString(submitted[77]!.id)!);
  const bytes = readFileSync(path);
  const pageSize = bytes.readUInt16BE(16);
  let inIndex = -1;
  for (let at = bytes.indexOf(id); at >= 0 && inIndex < 0; at = bytes.indexOf(id, at + 1)) {
    if (bytes[Math.floor(at / pageSize) * pageSize] === 0x0a) inIndex = at;
  }
  expect(inIndex).toBeGreaterThan(0);
  flipByte(path, inIndex + 15);
  const repaired = open({ path });
  expect(repaired.dataLoss?.indexesRebuilt).toEqual(["sqlite_autoindex_tasks_1"]);
  expect(repaired.dataLoss?.quarantined).toEqual([]);
  for (const s of submitted) expect((await repaired.get(s.id))?.id).toBe(s.id);
});

test("a schema version that is negative, lower than the tables, or claims tables the file lacks: CorruptDatabaseError naming it, file untouched", async () => {
  const path = tempPath();
  await open({ path }).close();
  for (const version of [-1, 2, 0]) {
    const db = new Database(path);
    db.exec(`PRAGMA user_version = ${version}`);
    db.close();
    const before = readFileSync(path);
    let caught: unknown;
    try {
      open({ path });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CorruptDatabaseError);
    expect(caught).not.toBeInstanceOf(DataLossError);
    expect((caught as Error).message).toContain(`schema version ${version} (PRAGMA user_version)`);
    expect(readFileSync(path).equals(before)).toBe(true);
  }
  const empty = tempPath();
  const db = new Database(empty, { create: true });
  db.exec("PRAGMA user_version = 3");
  db.close();
  expect(() => open({ path: empty })).toThrow(/schema version 3 \(PRAGMA user_version\) does not match the tables in the file: table meta is missing/);
});

test("a damaged schema entry (a column name in sqlite_master's SQL text, which integrity_check does not judge) is refused, not left to fail later", async () => {
  const path = tempPath();
  await open({ path }).close();
  // A flipped bit in the quarantine table's CREATE text, where sqlite_master keeps it: idempotency_key -> idempotency_keg.
  const bytes = readFileSync(path);
  const create = bytes.indexOf("CREATE TABLE quarantine");
  expect(create).toBeGreaterThan(0);
  flipByte(path, bytes.indexOf("idempotency_key", create) + 14, 0x1e);
  expect(() => open({ path })).toThrow(new RegExp(`schema version ${SCHEMA_VERSION} \\(PRAGMA user_version\\) does not match the tables in the file: table quarantine is not as that version defines it`));
});
