// Chaos scenario 1 for `bun run test:chaos`: kill -9 under load, from outside and at the named kill
// points. Long tier (TQ_CHAOS_TIER=long): 500 kills, bounded by TQ_CHAOS_KILL_BUDGET_SECS (default
// 40 min), then a fifth as many with persistence.sync interval; otherwise the short 20 and 10.

import { afterAll, expect, test } from "bun:test";
import { DEFAULT_PASSAGES, NAMED_KINDS, SHORT_PASSAGES, runKillNine, type KillNineReport } from "./lib/kill-nine.ts";
import { printSummary, recordRow } from "./lib/summary.ts";
import { byTier, chaosSeed } from "./lib/tier.ts";

afterAll(printSummary);

const kills = byTier(20, Number(process.env.TQ_CHAOS_KILLS ?? 500));
const budgetMs = byTier(60, Number(process.env.TQ_CHAOS_KILL_BUDGET_SECS ?? 2400)) * 1000;
const passages = byTier(SHORT_PASSAGES, DEFAULT_PASSAGES);

/** Named kills the seam did not make (a point never reached) fail the run, each one listed; so does a stale result not refused LeaseLost. */
function expectSeamKills(report: KillNineReport): void {
  expect(report.outsideFallbacks).toEqual([]);
  expect(report.staleResults.other.slice(0, 20)).toEqual([]);
  for (const kind of NAMED_KINDS) expect({ kind, seam: report.seamKills[kind] }).toEqual({ kind, seam: report.killsByKind[kind] });
}

test(`kill -9 under load, up to ${kills} kills`, async () => {
  const seed = chaosSeed();
  const report = await runKillNine({
    kills,
    budgetMs,
    seed,
    passages,
    progress: (done, kind) => {
      if (done % 25 === 0) process.stdout.write(`kill-nine: ${done}/${kills} kills (last: ${kind})\n`);
    },
  });
  recordRow(report.row);
  const c = report.check;
  expect(report.unexpectedExits).toEqual([]);
  expect({ lostSubmits: c.lostSubmits.slice(0, 20), lostCompletions: c.lostCompletions.slice(0, 20) }).toEqual({ lostSubmits: [], lostCompletions: [] });
  expect({ unexpected: c.unexpected.slice(0, 20), falseFailures: c.falseFailures.slice(0, 20) }).toEqual({ unexpected: [], falseFailures: [] });
  expect({ beyondWindow: c.duplicatesBeyondWindow.slice(0, 20), afterComplete: c.deliveredAfterComplete.slice(0, 20) }).toEqual({ beyondWindow: [], afterComplete: [] });
  expect(c.vanished.slice(0, 20)).toEqual([]);
  expect(c.refusedCompletions.slice(0, 20)).toEqual([]);
  expectSeamKills(report);
  expect(report.kills).toBeGreaterThanOrEqual(Math.min(kills, 20));
}, budgetMs + 180_000);

const intervalKills = byTier(10, Math.max(10, Math.floor(kills / 5)));
test(`kill -9 under load with persistence.sync interval, up to ${intervalKills} kills`, async () => {
  const report = await runKillNine({ kills: intervalKills, budgetMs: Math.max(40_000, budgetMs / 5), seed: chaosSeed(), sync: "interval", passages });
  recordRow(report.row);
  const c = report.check;
  expect(report.unexpectedExits).toEqual([]);
  expect({ lostSubmits: c.lostSubmits.slice(0, 20), lostCompletions: c.lostCompletions.slice(0, 20) }).toEqual({ lostSubmits: [], lostCompletions: [] });
  expect({ unexpected: c.unexpected.slice(0, 20), falseFailures: c.falseFailures.slice(0, 20) }).toEqual({ unexpected: [], falseFailures: [] });
  expect({ beyondWindow: c.duplicatesBeyondWindow.slice(0, 20), afterComplete: c.deliveredAfterComplete.slice(0, 20) }).toEqual({ beyondWindow: [], afterComplete: [] });
  expect(c.vanished.slice(0, 20)).toEqual([]);
  expect(c.refusedCompletions.slice(0, 20)).toEqual([]);
  expectSeamKills(report);
}, budgetMs / 5 + 180_000);
