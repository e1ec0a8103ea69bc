// Runs the chaos suite (`bun test test/chaos`, passing its arguments on) with TQ_CHAOS_REPORT
// pointing at a temp file, then prints one table of every scenario's row. Exit code: bun test's.
// Usage: bun test/chaos/run.ts [bun test args]; TQ_CHAOS_TIER=long for the long tier.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { formatTable, type ChaosRow } from "./lib/summary.ts";

const dir = mkdtempSync(join(tmpdir(), "tq-chaos-report-"));
const report = join(dir, "rows.jsonl");
const proc = Bun.spawn([process.execPath, "test", resolve(import.meta.dir), ...process.argv.slice(2)], {
  stdio: ["inherit", "inherit", "inherit"],
  env: { ...process.env, TQ_CHAOS_REPORT: report },
});
const code = await proc.exited;
let rows: ChaosRow[] = [];
try {
  rows = readFileSync(report, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as ChaosRow);
} catch {
  // No file: no scenario got as far as recording a row; the test output says why.
}
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`\nchaos suite (${process.env.TQ_CHAOS_TIER ?? "short"} tier): ${rows.length} scenarios recorded, bun test exit ${code}\n${formatTable(rows)}\n`);
process.exit(code);
