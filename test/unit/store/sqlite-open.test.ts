// Opening a database file: one that is not a database, damaged or from a newer build is refused
// with CorruptDatabaseError, and an older schema migrates with every task still there. Temp dirs only.

import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readFileSync, writeFileSync } from "node:fs";
import { uuidv7Bytes } from "../../../src/protocol/uuid.ts";
import { rowDamage, stateCrc, type StateFields } from "../../../src/store/sqlite/row-checksum.ts";
import { CorruptDatabaseError, MIGRATIONS } from "../../../src/store/sqlite/schema.ts";
import { STATUS, type TaskRow } from "../../../src/store/sqlite/task-row.ts";
import { openSqliteStore } from "../../../src/store/sqlite/sqlite-store.ts";
import { task } from "../../contract/store.contract.ts";
import { FakeClock } from "../../helpers/fake-clock.ts";
import { storeHarness } from "../../helpers/sqlite-store-harness.ts";
import { list } from "../../helpers/store-ops.ts";

const { tempPath, open } = storeHarness();

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
  expect((await store.pendingCount())).toBe(2);
  expect((await list(store, { status: "completed", limit: 10 })).tasks).toHaveLength(2);
  expect((await list(store, { status: "dead", limit: 10 })).tasks).toHaveLength(1);
  await store.close();
  const db = new Database(path);
  const indexes = (db.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks'").values() as string[][]).map((r) => r[0]);
  expect(indexes).toContain("tasks_open_status_seq");
  expect(indexes).not.toContain("tasks_status_seq");
  expect(indexes).not.toContain("tasks_finished_at");
  expect((db.query("PRAGMA user_version").get() as { user_version: number }).user_version).toBe(MIGRATIONS.length);
  // Migration 3 gave the rows of the older build their checksums.
  const rows = db.query("SELECT * FROM tasks").all() as TaskRow[];
  expect(rows).toHaveLength(statuses.length);
  expect(rows.map((r) => rowDamage(r))).toEqual(statuses.map(() => null));
  // Migration 4 dropped the lease columns (leases live in memory), and the checksums above still pass.
  const columns = (db.query("PRAGMA table_info(tasks)").all() as { name: string }[]).map((c) => c.name);
  expect(columns).not.toContain("lease_token");
  expect(columns).not.toContain("lease_expires_at");
  expect(columns).toContain("state_crc");
  db.close();
});

test("a row an earlier build left in_progress is requeued at open, stamped with the broker's clock, not the host's", async () => {
  const path = tempPath();
  const first = openSqliteStore({ path });
  const [sent] = await first.submit([task({ type: "left-running" })], 1000);
  await first.close();
  // What an earlier build left behind: the row itself marked in_progress, with a checksum to match.
  const db = new Database(path);
  const row = db.query("SELECT * FROM tasks WHERE type = 'left-running'").get() as StateFields & { seq: number };
  const running = { ...row, status: STATUS.in_progress };
  db.run("UPDATE tasks SET status = ?, state_crc = ? WHERE seq = ?", [running.status, stateCrc(running), row.seq]);
  db.close();
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const store = open({ path, clock });
  const back = (await store.get(sent!.id))!;
  expect(back.status).toBe("pending");
  expect(back.updatedAtMs).toBe(clock.now());
});
