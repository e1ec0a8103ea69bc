// Every statement the SQLite store prepares, checked with EXPLAIN QUERY PLAN: none scans or sorts
// the tasks table, so no operation's cost grows with the retained history. Guards planner
// surprises like the purge that once sorted every finished row per chunk.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../../src/store/sqlite/schema.ts";
import { INSERT_BATCH_ROWS, MANY_ROWS, Statements } from "../../../src/store/sqlite/statements.ts";

const dir = mkdtempSync(join(tmpdir(), "tq-plans-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("no statement scans or sorts the tasks table", () => {
  const { db } = openDatabase(join(dir, "tasks.db"), "full");
  const stmts = new Statements(db, () => true);
  for (const kind of ["any", "open", "finished"] as const) {
    for (const order of ["asc", "desc"] as const) {
      stmts.listRows(kind, order);
      stmts.listWindow(kind, order);
    }
    stmts.listCount(kind);
  }
  stmts.insertRows(INSERT_BATCH_ROWS);
  stmts.claimRows(MANY_ROWS);
  stmts.completeRows(MANY_ROWS);
  expect(stmts.sqlTexts.length).toBeGreaterThan(25);
  const plans = new Map<string, string>();
  for (const sql of stmts.sqlTexts) {
    const rows = db.query(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[];
    plans.set(sql, rows.map((r) => r.detail).join(" | "));
  }
  for (const [sql, plan] of plans) {
    expect({ sql, scans: /\bSCAN tasks\b/.test(plan), sorts: plan.includes("TEMP B-TREE") }).toEqual({ sql, scans: false, sorts: false });
  }
  // Every read by status other than completed goes through the partial index of open rows, or (finished rows) tasks_finished.
  const byStatus = [...plans].filter(([sql]) => sql.includes("status = ?") || /status (=|IN) \(?\d/.test(sql.replace(/SET status = \S+/g, "")));
  expect(byStatus.length).toBeGreaterThan(5);
  for (const [sql, plan] of byStatus) {
    if (sql.includes("status <> 3")) expect({ sql, plan }).toEqual({ sql, plan: expect.stringMatching(/tasks_open_status_seq|tasks_finished/) });
  }
  db.close();
});
