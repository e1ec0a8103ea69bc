// Task row checksums (row-checksum.ts, issue 19.4): every way the store writes a row leaves it
// passing its checksums; a row damaged behind the store's back is never served, is moved to the
// quarantine table and reported, and a write to it does not bless the damage. Temp dirs only.

import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readFileSync } from "node:fs";
import { uuidFromString } from "../../../src/protocol/uuid.ts";
import { rowDamage } from "../../../src/store/sqlite/row-checksum.ts";
import type { QuarantinedRow } from "../../../src/store/sqlite/quarantine.ts";
import { Statements } from "../../../src/store/sqlite/statements.ts";
import type { TaskRow } from "../../../src/store/sqlite/task-row.ts";
import { task } from "../../contract/store.contract.ts";
import { flipByte } from "../../helpers/data-damage.ts";
import { storeHarness } from "../../helpers/sqlite-store-harness.ts";
import { claim, complete, fail, list } from "../../helpers/store-ops.ts";

const { tempPath, open } = storeHarness();
const enc = new TextEncoder();

function damagedRows(path: string): { seq: number; damage: string }[] {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.query("SELECT * FROM tasks").all() as TaskRow[];
    return rows.map((r) => ({ seq: r.seq, damage: rowDamage(r) })).filter((r): r is { seq: number; damage: string } => r.damage !== null);
  } finally {
    db.close();
  }
}

test("every write the store makes leaves the row passing its checksums", async () => {
  const path = tempPath();
  const store = open({ path, retry: { backoff: { baseMs: 1, factor: 1, maxMs: 1, jitter: 0 }, random: Math.random } });
  const now = 1_000_000;
  await store.submit(
    [
      task({ type: "a", payload: new Uint8Array(0) }),
      task({ type: "b\ud800 lone surrogate", idempotencyKey: "key-\udfff", payload: enc.encode('{"x":1}'), payloadIsJson: true }),
      task({ type: "c", maxRetries: 0 }),
      task({ type: "d" }),
      task({ type: "e", maxRetries: 0 }),
      task({ type: "f" }),
      task({ type: "later", runAtMs: now + 10 }),
    ],
    now,
  );
  const leases = await claim(store, { queues: ["default"], max: 6, workerId: "w\ud800", nowMs: now });
  expect(leases).toHaveLength(6);
  const [a, b, c, d, e, f] = leases.map((l) => ({ id: l.task.id, token: l.token }));
  await complete(store, a!, { result: new Uint8Array(0), resultIsJson: false }, now + 1);
  await complete(store, b!, { result: enc.encode('{"ok":true}'), resultIsJson: true }, now + 1);
  await fail(store, c!, { error: "boom \ud800", unrecoverable: false }, now + 1); // max_retries 0: dead
  await fail(store, d!, { error: "again", unrecoverable: false }, now + 1); // failed, retry due
  await store.reclaimWorker("w\ud800", true, now + 2); // e: dead (no retries left), f: pending again
  expect((await store.tick(now + 100)).promoted).toBeGreaterThanOrEqual(2); // "later" and d's retry
  await store.retry(c!.id, now + 101);
  const [again] = await claim(store, { queues: ["default"], max: 1, workerId: "w2", nowMs: now + 102 });
  await complete(store, { id: again!.task.id, token: again!.token }, { result: null, resultIsJson: false }, now + 103);
  const rest = await claim(store, { queues: ["default"], max: 10, workerId: "w3", nowMs: now + 104 });
  await store.report(
    rest.map((l, i) => ({ lease: { id: l.task.id, token: l.token }, ...(i % 2 === 0 ? { completed: { result: enc.encode(`r${i}`), resultIsJson: false } } : { failed: { error: `e${i}`, unrecoverable: true } }) })),
    now + 105,
  );
  await store.submit([task({ type: "to-cancel" })], now + 106);
  const toCancel = (await list(store, { status: "pending", limit: 10 })).tasks.find((t) => t.type === "to-cancel")!;
  await store.cancel(toCancel.id, now + 107);
  expect((await store.get(e!.id))!.status).toBe("dead");
  await store.close();
  expect(damagedRows(path)).toEqual([]);
});

test("every statement that writes a task row sets its state checksum, and none rewrites a fixed field", () => {
  const db = new Database(":memory:");
  db.exec(
    `CREATE TABLE tasks (seq INTEGER PRIMARY KEY, id, type, queue, payload, flags, priority, status, run_at, attempts, max_retries, lease_ms,
     lease_token, lease_expires_at, worker_id, idempotency_key, result, error, created_at, updated_at, started_at, finished_at, fixed_crc, state_crc);
     CREATE TABLE meta (key, value); CREATE TABLE task_runs (seq, worker_id, started_at, ended_at, outcome, error);
     CREATE TABLE paused_queues (queue PRIMARY KEY, paused_at);`,
  );
  const stmts = new Statements(db, () => true);
  stmts.insertRows(64);
  stmts.completeRows(64);
  const writes = stmts.sqlTexts.filter((sql) => /^\s*(UPDATE|INSERT INTO) tasks\b/.test(sql));
  expect(writes.length).toBeGreaterThan(8);
  for (const sql of writes) {
    expect({ sql, setsStateCrc: /state_crc/.test(sql) }).toEqual({ sql, setsStateCrc: true });
    if (sql.trimStart().startsWith("UPDATE")) {
      const set = sql.slice(sql.indexOf("SET"), sql.search(/\bWHERE\b|\bFROM\b/));
      expect({ sql, fixed: /\b(type|queue|payload|priority|max_retries|lease_ms|idempotency_key|created_at|fixed_crc)\s*=/.test(set) }).toEqual({ sql, fixed: false });
    } else {
      expect(sql).toContain("fixed_crc");
    }
  }
  db.close();
});

/** Changes one task row behind the store's back, as damage on disk would (another connection). */
function damage(path: string, sql: string, ...params: (string | number)[]): void {
  const db = new Database(path);
  db.exec("PRAGMA busy_timeout = 5000");
  expect(db.query(sql).run(...params).changes).toBe(1);
  db.close();
}

test("a row damaged while the broker runs is never served: get says quarantined, claims skip it, it moves to the quarantine table", async () => {
  const path = tempPath();
  const found: QuarantinedRow[] = [];
  const store = open({ path, onQuarantine: (rows) => found.push(...rows) });
  const [hit, ok] = await store.submit([task({ type: "hit", payload: enc.encode("payload-1") }), task({ type: "ok", payload: enc.encode("payload-2") })], 1000);
  damage(path, "UPDATE tasks SET payload = CAST('payload-X' AS BLOB) WHERE type = 'hit'");
  await expect(store.get(hit!.id)).rejects.toThrow(/quarantined: its fixed fields .* fail their checksum/);
  const claimed = await claim(store, { queues: ["default"], max: 10, workerId: "w", nowMs: 2000 });
  expect(claimed.map((l) => l.task.id)).toEqual([ok!.id]);
  // Polls for the quarantine move, which runs on a later turn of the event loop (no timer).
  for (let i = 0; i < 50 && found.length === 0; i++) await Bun.sleep(10);
  expect(found).toEqual([{ seq: expect.any(Number), id: hit!.id, reason: expect.stringContaining("fixed fields") }]);
  await expect(store.get(hit!.id)).rejects.toThrow(/quarantined/);
  await store.close();
  const db = new Database(path, { readonly: true });
  const q = db.query("SELECT type, reason, CAST(payload AS TEXT) AS payload FROM quarantine").all();
  expect(q).toEqual([{ type: "hit", reason: expect.stringContaining("checksum"), payload: "payload-X" }]);
  expect(db.query("SELECT count(*) AS n FROM tasks WHERE type = 'hit'").get()).toEqual({ n: 0 });
  db.close();
});

test("a completion of a row whose state was damaged does not bless the damage", async () => {
  const path = tempPath();
  const store = open({ path });
  await store.submit([task({ type: "t", maxRetries: 5 })], 1000);
  const [lease] = await claim(store, { queues: ["default"], max: 1, workerId: "w", nowMs: 1000 });
  // attempts is a column the completion does not write: its damage must outlive the completion.
  damage(path, "UPDATE tasks SET attempts = 4 WHERE type = 't'");
  await complete(store, { id: lease!.task.id, token: lease!.token }, { result: null, resultIsJson: false }, 1001);
  await expect(store.get(lease!.task.id)).rejects.toThrow(/quarantined: its state fields/);
});

test("at open, damaged rows refuse the start naming their ids; accepted, they are quarantined and listed", async () => {
  const path = tempPath();
  const store = open({ path });
  const submitted = await store.submit(Array.from({ length: 20 }, (_, i) => task({ type: `t${i}` })), 1000);
  await store.close();
  damage(path, "UPDATE tasks SET priority = 7 WHERE type = 't3'");
  damage(path, "UPDATE tasks SET error = 'x' WHERE type = 't9'");
  expect(() => open({ path })).toThrow(new RegExp(`2 task records failed their checksums: ${submitted[3]!.id}, ${submitted[9]!.id}.*--accept-data-loss`));
  const accepted = open({ path, acceptDataLoss: true });
  expect(accepted.dataLoss?.quarantined.map((q) => q.id)).toEqual([submitted[3]!.id, submitted[9]!.id]);
  expect((await accepted.pendingCount())).toBe(18);
  await accepted.close();
  // Accepted once: the next start finds nothing. It follows a clean stop, so its rows are checked
  // right after it serves (docs/storage.md, "Checks at open").
  const next = open({ path });
  expect(next.dataLoss).toBeNull();
  expect(next.openChecks.rowsAndIndexes).toBe("after serving");
  expect(await next.checksAfterOpen).toMatchObject({ rowsChecked: 18, damagedRows: [], indexesRebuilt: [], ended: "completed", failure: null });
});

test("a list page stops at no damaged row: pages go on past rows that fail, each good task once", async () => {
  const path = tempPath();
  const store = open({ path });
  const submitted = await store.submit(Array.from({ length: 10 }, (_, i) => task({ type: `t${i}` })), 1000);
  for (const i of [2, 3, 4, 9]) damage(path, `UPDATE tasks SET priority = 1 WHERE type = 't${i}'`);
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 20; page++) {
    const p = await list(store, { limit: 2, ...(cursor === undefined ? {} : { cursor }) });
    seen.push(...p.tasks.map((t) => t.id));
    if (p.nextCursor === null) break;
    cursor = p.nextCursor;
  }
  expect(seen).toEqual([0, 1, 5, 6, 7, 8].map((i) => submitted[i]!.id));
});

test("a row whose indexed field was damaged moves to the quarantine table (SQLite deletes it only once its index entries are rebuilt)", async () => {
  const path = tempPath();
  const store = open({ path });
  const ids = (await store.submit(Array.from({ length: 30 }, (_, i) => task({ type: `t${i}` })), 1000)).map((o) => o.id);
  await store.close();
  // A byte of task 12's id in its row (a table leaf page: type byte 0x0d): the row fails its
  // checksum, and the id index's entry no longer matches it.
  const id = Buffer.from(uuidFromString(ids[12]!)!);
  const bytes = readFileSync(path);
  const pageSize = bytes.readUInt16BE(16);
  let inRow = -1;
  for (let at = bytes.indexOf(id); at >= 0 && inRow < 0; at = bytes.indexOf(id, at + 1)) {
    if (bytes[Math.floor(at / pageSize) * pageSize] === 0x0d) inRow = at;
  }
  expect(inRow).toBeGreaterThan(0);
  flipByte(path, inRow + 15);
  const accepted = open({ path, acceptDataLoss: true });
  expect(accepted.dataLoss?.quarantined).toEqual([{ seq: expect.any(Number), id: expect.any(String), reason: expect.stringContaining("fixed fields") }]);
  expect(await accepted.pendingCount()).toBe(29);
  await accepted.close();
  const db = new Database(path, { readonly: true });
  expect(db.query("PRAGMA integrity_check").values()).toEqual([["ok"]]);
  expect(db.query("SELECT count(*) AS n FROM quarantine").get()).toEqual({ n: 1 });
  db.close();
});
