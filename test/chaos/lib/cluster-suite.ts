// The tests of scenario 9 (several brokers on one PostgreSQL database), for both tiers: short 35 s
// of chaos (in `npm test`), long TQ_CHAOS_CLUSTER_SECS (600). Plus the proof that the same run
// reports a task lost behind the brokers' backs.

import { afterAll, expect, test } from "bun:test";
import { DRAIN_CAP_MS, runClusterChaos, type ClusterChaosReport } from "./cluster-chaos.ts";
import { printSummary, recordRow } from "./summary.ts";
import { chaosSeed, type ChaosTier } from "./tier.ts";

function verdict(report: ClusterChaosReport) {
  const c = report.check;
  return {
    unexpectedExits: report.unexpectedExits,
    lostSubmits: c.lostSubmits.slice(0, 20),
    lostCompletions: c.lostCompletions.slice(0, 20),
    vanished: c.vanished.slice(0, 20),
    unexpected: c.unexpected.slice(0, 20),
    falseFailures: c.falseFailures.slice(0, 20),
    refused: c.refusedCompletions.slice(0, 20),
    beyondWindow: c.duplicatesBeyondWindow.slice(0, 20),
    afterComplete: c.deliveredAfterComplete.slice(0, 20),
  };
}

const CLEAN = { unexpectedExits: [], lostSubmits: [], lostCompletions: [], vanished: [], unexpected: [], falseFailures: [], refused: [], beyondWindow: [], afterComplete: [] };

export function defineClusterTests(tier: ChaosTier): void {
  afterAll(printSummary);
  const long = tier === "long";
  const durationMs = (long ? Number(process.env.TQ_CHAOS_CLUSTER_SECS ?? 600) : 35) * 1000;

  test(`three brokers on one PostgreSQL, ${durationMs / 1000} s of brokers and workers killed with -9 and PostgreSQL restarted once: nothing lost, nothing unexpected, no duplicate beyond the window`, async () => {
    const report = await runClusterChaos({ seed: chaosSeed(), durationMs, progress: long ? (line) => process.stdout.write(`${line}\n`) : undefined });
    recordRow(report.row);
    expect(verdict(report)).toEqual(CLEAN);
    // The run did what it says: kills of both kinds, the restart, work acknowledged on both sides.
    expect(report.brokerKills).toBeGreaterThan(0);
    expect(report.workerKills).toBeGreaterThan(0);
    expect(report.postgresRestarts).toBe(1);
    expect(report.check.submitsOk).toBeGreaterThan(0);
    expect(report.check.completionsOk).toBeGreaterThan(0);
  }, durationMs + DRAIN_CAP_MS + 120_000);

  test("the same run reports a task deleted behind the brokers' backs as lost (the checker can fail)", async () => {
    const report = await runClusterChaos({ seed: chaosSeed(), durationMs: 4000, restartPostgres: false, sabotage: true });
    recordRow(report.row);
    expect(report.sabotaged).toBe("sabotaged");
    expect(report.check.lostSubmits).toEqual(["sabotaged"]);
    expect(report.row.pass).toBe(false);
  }, 120_000);
}
