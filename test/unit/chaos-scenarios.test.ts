// The chaos scenarios are listed once (test/chaos/lib/scenarios.ts): they are the scenarios of
// docs/guarantees.md's table, and no test file but the two tier entries wires a scenario suite,
// so a scenario added to the list runs in both tiers and one left out runs in neither.

import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { CHAOS_SCENARIOS } from "../chaos/lib/scenarios.ts";
import { REPO_ROOT } from "../helpers/cli.ts";

test("the scenario list is the table of docs/guarantees.md, in its order", () => {
  const doc = readFileSync(join(REPO_ROOT, "docs/guarantees.md"), "utf8");
  const rows = [...doc.matchAll(/^\| (\d+) \| [^|]*\(`([a-z-]+)`\) \|/gm)].map((m) => ({ n: Number(m[1]), name: m[2] }));
  expect(rows.map((r) => r.n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(CHAOS_SCENARIOS.map((s) => s.name)).toEqual(rows.map((r) => r.name!));
});

test("only the two tier entries wire scenario suites", () => {
  const testFiles = readdirSync(join(REPO_ROOT, "test"), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".test.ts"))
    .map((e) => relative(REPO_ROOT, join(e.parentPath, e.name)));
  const wiring = testFiles.filter((f) => /from "[^"]*\blib\/(scenarios|[a-z-]+-suite)\.ts"/.test(readFileSync(join(REPO_ROOT, f), "utf8")));
  expect(wiring.sort()).toEqual(["test/chaos/chaos.test.ts", "test/e2e/chaos.test.ts", "test/unit/chaos-scenarios.test.ts"]);
  for (const entry of ["test/chaos/chaos.test.ts", "test/e2e/chaos.test.ts"]) {
    expect(readFileSync(join(REPO_ROOT, entry), "utf8")).toContain("defineChaosSuite(");
  }
});
