// Short tier of chaos scenario 1 (kill -9 under load: 20 kills with sync full, 10 with sync
// interval); the long tier is
// test/chaos/kill-nine.test.ts. Scenario and checker: test/chaos/lib/kill-nine.ts, history.ts.

import { afterAll, expect, test } from "bun:test";
import { runKillNine } from "../chaos/lib/kill-nine.ts";
import { printSummary, recordRow } from "../chaos/lib/summary.ts";
import { chaosSeed } from "../chaos/lib/tier.ts";

afterAll(printSummary);

test("kill -9 under load, 20 kills: nothing acknowledged is lost, nothing completed comes back", async () => {
  const report = await runKillNine({ kills: 20, budgetMs: 60_000, seed: chaosSeed() });
  recordRow(report.row);
  const c = report.check;
  expect({ unexpectedExits: report.unexpectedExits, lostSubmits: c.lostSubmits.slice(0, 10), lostCompletions: c.lostCompletions.slice(0, 10) }).toEqual({ unexpectedExits: [], lostSubmits: [], lostCompletions: [] });
  expect({ unexpected: c.unexpected.slice(0, 10), falseFailures: c.falseFailures.slice(0, 10) }).toEqual({ unexpected: [], falseFailures: [] });
  expect({ beyondWindow: c.duplicatesBeyondWindow.slice(0, 10), afterComplete: c.deliveredAfterComplete.slice(0, 10) }).toEqual({ beyondWindow: [], afterComplete: [] });
  expect(report.kills).toBe(20);
  expect(c.submitsOk).toBeGreaterThan(0);
  expect(c.completionsOk).toBeGreaterThan(0);
}, 150_000);

test("kill -9 under load with persistence.sync interval, 10 kills: a process crash loses nothing acknowledged either", async () => {
  const report = await runKillNine({ kills: 10, budgetMs: 40_000, seed: chaosSeed(), sync: "interval" });
  recordRow(report.row);
  const c = report.check;
  expect(report.unexpectedExits).toEqual([]);
  expect({ lostSubmits: c.lostSubmits.slice(0, 10), lostCompletions: c.lostCompletions.slice(0, 10) }).toEqual({ lostSubmits: [], lostCompletions: [] });
  expect({ unexpected: c.unexpected.slice(0, 10), falseFailures: c.falseFailures.slice(0, 10) }).toEqual({ unexpected: [], falseFailures: [] });
  expect({ beyondWindow: c.duplicatesBeyondWindow.slice(0, 10), afterComplete: c.deliveredAfterComplete.slice(0, 10) }).toEqual({ beyondWindow: [], afterComplete: [] });
  expect(report.kills).toBe(10);
}, 120_000);
