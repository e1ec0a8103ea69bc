// `tq-broker bench` on a terminal keeps a live line on stderr (workload, run, step, tasks done,
// rate) redrawn in place; with --json, or on a pipe, it prints no such line. Real CLI processes
// on a pseudo-terminal (script(1)) and on pipes; tiny spawned runs, figures never asserted.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, runCliOnTerminal } from "../helpers/cli.ts";

const REDRAW = "\r\x1b[2K";
/** W4 for 2 s at 100/s: long enough for the live line to be redrawn with a rate several times. */
const SMALL_W4 = ["bench", "--spawn", "--workload", "W4", "--rate", "100", "--seconds", "2", "--warmup", "0"];

let cwd: string;
beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), "tq-bench-progress-"));
});
afterAll(() => {
  rmSync(cwd, { recursive: true, force: true });
});

describe("bench progress", () => {
  test("on a terminal: a line redrawn in place with the workload, run, step, tasks done and rate; the table after", async () => {
    const r = await runCliOnTerminal(SMALL_W4, { cwd }, 60_000);
    expect(r.exitCode).toBe(0);
    expect(r.output).toContain(`${REDRAW}W4 run 1/1 · starting broker`);
    expect(r.output).toContain(`${REDRAW}W4 run 1/1 · timed · `);
    expect(r.output).toMatch(/W4 run 1\/1 · timed · \d+\/200 completed · [\d,]+ tasks\/s · \ds/);
    // The count moves between redraws: it is live, not drawn once.
    const counts = new Set([...r.output.matchAll(/(\d+)\/200 completed/g)].map((m) => m[1]));
    expect(counts.size).toBeGreaterThan(1);
    // The run's figure replaces the live line, and the table follows on a clean line.
    expect(r.output).toMatch(/\r\x1b\[2KW4 run 1\/1: [\d,]+ tasks\/s\nworkload\s+sync\s+tasks/);
  }, 90_000);

  test("with --json on a terminal: no live line, only JSON", async () => {
    const r = await runCliOnTerminal([...SMALL_W4, "--seconds", "1", "--json"], { cwd }, 60_000);
    expect(r.exitCode).toBe(0);
    expect(r.output).not.toContain("\x1b");
    expect(r.output).not.toContain("\r");
    const lines = r.output.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).workload).toBe("W4");
  }, 90_000);

  test("on a pipe: no live line, just one line per finished run on stderr", async () => {
    const r = await runCli([...SMALL_W4, "--seconds", "1"], { cwd }, 60_000);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).not.toContain("\r");
    expect(r.stderr).not.toContain("\x1b");
    expect(r.stderr).toMatch(/^W4 run 1\/1: [\d,]+ tasks\/s\n$/);
    expect(r.stdout).toMatch(/^workload\s+sync\s+tasks/);
  }, 90_000);
});
