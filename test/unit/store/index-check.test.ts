// The index check of the checks after open (index-check.ts): it covers every index the schema
// has, each of its lookups is an index seek (a scan per row would take hours on a million rows),
// and it finds what integrity_check finds of an index out of step with its table: a row without
// its entry, an entry without its row. Temp files only.

import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkIndexesInBackground, indexCheckSql, indexSpecs, type TableCheckSql } from "../../../src/store/sqlite/index-check.ts";
import { MIGRATIONS } from "../../../src/store/sqlite/schema.ts";

const dir = mkdtempSync(join(tmpdir(), "tq-index-check-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** EXPLAIN QUERY PLAN of `statement`, one line per step. */
function planOf(db: Database, statement: string, ...params: number[]): string[] {
  return (db.query(`EXPLAIN QUERY PLAN ${statement}`).all(...params) as { detail: string }[]).map((p) => p.detail);
}

/** Each table's check reads its chunk by rowid and seeks each index entry, never scans; the counts read each index. */
function expectSeeks(db: Database, tables: TableCheckSql[]): void {
  for (const t of tables) {
    for (const plan of [planOf(db, t.missingInChunk, 0, 100), planOf(db, t.missingAfter, 0)]) {
      expect(plan[0]).toMatch(new RegExp(`^SEARCH ${t.table} USING INTEGER PRIMARY KEY`));
      const lookups = plan.filter((d) => d.includes("USING COVERING INDEX"));
      expect(lookups.length).toBeGreaterThanOrEqual(t.indexes.length);
      for (const d of lookups) expect(d).toMatch(/^SEARCH .* USING COVERING INDEX \S+ \(.+=\?/);
      expect(plan.filter((d) => d.startsWith("SCAN"))).toEqual([]);
    }
    // count(*) may prefer the table to the index whatever INDEXED BY says: the counts must read each index.
    const counts = planOf(db, t.counts);
    for (const index of t.indexes) expect(counts.some((d) => d.includes(`USING COVERING INDEX ${index}`))).toBe(true);
  }
}

test("every index of the schema is checked, and every lookup of a row's entry is an index seek", () => {
  const db = new Database(":memory:");
  for (const m of MIGRATIONS) db.exec(m);
  const specs = indexSpecs(db);
  const names = (db.query("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name").values() as string[][]).map((r) => r[0]!);
  expect(specs.map((s) => s.index).sort()).toEqual(names.sort());
  const tasks = specs.filter((s) => s.table === "tasks");
  expect(tasks.find((s) => s.index === "tasks_open_status_seq")).toEqual({ table: "tasks", index: "tasks_open_status_seq", columns: ["status", "seq"], where: "status <> 3" });
  expectSeeks(db, indexCheckSql(specs));
  db.close();
});

/** A file with table t (rows `values`) and index ti on it. */
function make(name: string, values: string[]): string {
  const path = join(dir, name);
  const db = new Database(path, { create: true });
  db.exec("CREATE TABLE t (a TEXT NOT NULL); CREATE INDEX ti ON t(a)");
  db.transaction(() => {
    for (const v of values) db.run("INSERT INTO t (a) VALUES (?)", [v]);
  })();
  db.close();
  return path;
}

/** Copies page `page` (1-based) of `from` into `to`: index content of one file, table of the other. */
function copyPage(from: string, to: string, page: number): void {
  const src = readFileSync(from);
  const dst = readFileSync(to);
  const size = src.readUInt16BE(16);
  src.copy(dst, (page - 1) * size, (page - 1) * size, page * size);
  writeFileSync(to, dst);
}

test("a row without its index entry, and an index entry without its row, are found as integrity_check finds them", async () => {
  const two = make("two.db", ["a1", "a2"]);
  const one = make("one.db", ["a1"]);
  const root = (new Database(two, { readonly: true }).query("SELECT rootpage FROM sqlite_master WHERE name = 'ti'").get() as { rootpage: number }).rootpage;
  const extra = join(dir, "extra.db");
  const missing = join(dir, "missing.db");
  writeFileSync(extra, readFileSync(one));
  copyPage(two, extra, root);
  writeFileSync(missing, readFileSync(two));
  copyPage(one, missing, root);

  // A table named like the check's own aliases would be (t, as in an earlier version) still gets seeks.
  const plans = new Database(extra, { readonly: true });
  expectSeeks(plans, indexCheckSql(indexSpecs(plans)));
  plans.close();

  for (const [path, words] of [
    [extra, "index ti holds 2 entries for 1 row(s) of t"],
    [missing, "index ti has no entry for 1 row(s) of t (rowid 2)"],
  ] as const) {
    const db = new Database(path, { readonly: true });
    expect(db.query("PRAGMA integrity_check").values().flat().join("; ")).toMatch(/ti/);
    const findings = await checkIndexesInBackground(path, indexCheckSql(indexSpecs(db))).done;
    db.close();
    expect(findings.outOfStep).toEqual(["ti"]);
    expect(findings.details).toContain(words);
  }

  const whole = make("whole.db", ["a1", "a2"]);
  const db = new Database(whole, { readonly: true });
  expect(await checkIndexesInBackground(whole, indexCheckSql(indexSpecs(db))).done).toEqual({ outOfStep: [], details: [] });
  db.close();
});

test("a check stopped midway closes its connection and settles", async () => {
  const path = make("big.db", Array.from({ length: 300_000 }, (_, i) => `v${i}`));
  const db = new Database(path, { readonly: true });
  const running = checkIndexesInBackground(path, indexCheckSql(indexSpecs(db)));
  db.close();
  // Well into its chunks (the whole check takes a few hundred ms).
  await Bun.sleep(60);
  await running.stop();
  await expect(running.done).rejects.toThrow("stopped");
  // Nothing of the worker's is left holding the file: a writer can take it whole.
  const writer = new Database(path);
  writer.exec("PRAGMA locking_mode = EXCLUSIVE");
  writer.exec("BEGIN EXCLUSIVE; COMMIT");
  writer.close();
}, 30_000);
