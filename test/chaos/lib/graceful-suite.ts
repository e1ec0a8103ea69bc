// The test of scenario 7 (SIGTERM under load, repeated), defined once for both tiers (3 stops
// short, 20 long; scenarios.ts runs it in each).

import { afterAll, expect, test } from "bun:test";
import { runGracefulStops } from "./graceful-stop.ts";
import { printSummary, recordRow } from "./summary.ts";
import { chaosSeed, type ChaosTier } from "./tier.ts";

export function defineGracefulTests(tier: ChaosTier): void {
  afterAll(printSummary);
  const stops = tier === "long" ? 20 : 3;
  test(`SIGTERM under load, ${stops} times on one data dir, with producers and workers: exit 0 each time, nothing acknowledged lost`, async () => {
    const report = await runGracefulStops({ stops, seed: chaosSeed(), budgetMs: tier === "long" ? 600_000 : 60_000 });
    recordRow(report.row);
    const c = report.check;
    expect(report.badStops).toEqual([]);
    expect(report.stops).toBe(stops);
    expect({ lost: c.lostSubmits.slice(0, 10), lostCompletions: c.lostCompletions.slice(0, 10) }).toEqual({ lost: [], lostCompletions: [] });
    expect({ unexpected: c.unexpected.slice(0, 10), falseFailures: c.falseFailures.slice(0, 10) }).toEqual({ unexpected: [], falseFailures: [] });
    expect({ beyond: c.duplicatesBeyondWindow.slice(0, 10), afterComplete: c.deliveredAfterComplete.slice(0, 10) }).toEqual({ beyond: [], afterComplete: [] });
    expect(c.submitsOk).toBeGreaterThan(0);
  }, tier === "long" ? 900_000 : 120_000);
}
