// The tests of scenario 1 (kill -9 under load, from outside and at the broker's named kill points),
// defined once for both tiers: short 20 kills with sync full and 10 with sync interval, each kind
// of kill at least twice; long 500 (TQ_CHAOS_KILLS) bounded by TQ_CHAOS_KILL_BUDGET_SECS (40 min),
// then a fifth as many with sync interval. Plus the kill rotation's own rules.

import { afterAll, expect, test } from "bun:test";
import { DEFAULT_PASSAGES, KILL_KINDS, NAMED_KINDS, SHORT_PASSAGES, killRotation, runKillNine, type KillNineReport } from "./kill-nine.ts";
import { printSummary, recordRow } from "./summary.ts";
import { chaosSeed, type ChaosTier } from "./tier.ts";

/** Nothing acknowledged lost, nothing completed back, no crash; every named kill was the broker's own. */
function expectClean(report: KillNineReport): void {
  const c = report.check;
  expect({ unexpectedExits: report.unexpectedExits, outsideFallbacks: report.outsideFallbacks }).toEqual({ unexpectedExits: [], outsideFallbacks: [] });
  // Results sent with leases of a dead incarnation: each answered LeaseLost (never NotFound: the row survived).
  expect(report.staleResults.other.slice(0, 20)).toEqual([]);
  expect({ lostSubmits: c.lostSubmits.slice(0, 20), lostCompletions: c.lostCompletions.slice(0, 20), vanished: c.vanished.slice(0, 20) }).toEqual({
    lostSubmits: [],
    lostCompletions: [],
    vanished: [],
  });
  expect({ unexpected: c.unexpected.slice(0, 20), falseFailures: c.falseFailures.slice(0, 20), refused: c.refusedCompletions.slice(0, 20) }).toEqual({
    unexpected: [],
    falseFailures: [],
    refused: [],
  });
  expect({ beyondWindow: c.duplicatesBeyondWindow.slice(0, 20), afterComplete: c.deliveredAfterComplete.slice(0, 20) }).toEqual({ beyondWindow: [], afterComplete: [] });
  // Every named kill was the broker's own: exit by SIGKILL with none sent by the supervisor.
  for (const kind of NAMED_KINDS) expect({ kind, seam: report.seamKills[kind] }).toEqual({ kind, seam: report.killsByKind[kind] });
}

export function defineKillNineTests(tier: ChaosTier): void {
  afterAll(printSummary);
  const long = tier === "long";
  const kills = long ? Number(process.env.TQ_CHAOS_KILLS ?? 500) : 20;
  const budgetMs = (long ? Number(process.env.TQ_CHAOS_KILL_BUDGET_SECS ?? 2400) : 60) * 1000;
  const passages = long ? DEFAULT_PASSAGES : SHORT_PASSAGES;
  const intervalKills = long ? Math.max(10, Math.floor(kills / 5)) : 10;
  const intervalBudgetMs = long ? Math.max(40_000, budgetMs / 5) : 40_000;

  test(`kill -9 under load, ${long ? "up to " : ""}${kills} kills at random moments and at every named point: nothing acknowledged is lost, nothing completed comes back`, async () => {
    const report = await runKillNine({
      kills,
      budgetMs,
      seed: chaosSeed(),
      passages,
      progress: (done, kind) => {
        if (long && done % 25 === 0) process.stdout.write(`kill-nine: ${done}/${kills} kills (last: ${kind})\n`);
      },
    });
    recordRow(report.row);
    expectClean(report);
    if (long) {
      // Time-bounded: fewer kills than asked is allowed, fewer than the short tier's is not.
      expect(report.kills).toBeGreaterThanOrEqual(Math.min(kills, 20));
      return;
    }
    expect(report.kills).toBe(kills);
    for (const kind of KILL_KINDS) expect({ kind, atLeastTwice: report.killsByKind[kind] >= 2 }).toEqual({ kind, atLeastTwice: true });
    // The recovery kills had leases to void: workers held tasks when the incarnation before died.
    expect(report.heldBeforeRecovery).toBeGreaterThan(0);
    expect(report.staleResults.leaseLost).toBeGreaterThan(0);
    expect(report.check.submitsOk).toBeGreaterThan(0);
    expect(report.check.completionsOk).toBeGreaterThan(0);
  }, budgetMs + (long ? 180_000 : 90_000));

  test(`kill -9 under load with persistence.sync interval, ${long ? "up to " : ""}${intervalKills} kills: a process crash loses nothing acknowledged either`, async () => {
    const report = await runKillNine({ kills: intervalKills, budgetMs: intervalBudgetMs, seed: chaosSeed(), sync: "interval", passages });
    recordRow(report.row);
    expectClean(report);
    if (!long) expect(report.kills).toBe(intervalKills);
    expect(report.killsByKind["after-sync"]).toBe(0);
  }, intervalBudgetMs + (long ? 180_000 : 80_000));

  test("the rotation puts recovery right after a round with load, and leaves after-sync out with sync interval", () => {
    for (const sync of ["full", "interval"] as const) {
      const rotation = killRotation(sync);
      const i = rotation.indexOf("recovery");
      expect(["random", "after-commit", "after-acks", "after-sync", "after-completions", "compaction"]).toContain(rotation[(i + rotation.length - 1) % rotation.length]!);
    }
    expect(killRotation("interval")).not.toContain("after-sync");
    expect([...killRotation("full")].sort()).toEqual([...KILL_KINDS].sort());
  });
}
