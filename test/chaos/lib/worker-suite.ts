// The tests of scenario 5 (worker faults), defined once for both tiers (scenarios.ts runs them:
// the short tier in `npm test`, the long one by test/chaos/run.ts).

import { afterAll, describe, expect, test } from "bun:test";
import { printSummary, recordRow } from "./summary.ts";
import type { ChaosTier } from "./tier.ts";
import { killedWorker, poisonTask, silentWorker, withWorkerBroker } from "./worker-faults.ts";

export function defineWorkerTests(tier: ChaosTier): void {
  afterAll(printSummary);
  const long = tier === "long";

  describe("worker faults", () => {
    const silentRounds = long ? 50 : 3;
    test(`a worker that claims and never answers (${silentRounds} rounds): lease expiry re-delivers once, its late result gets LeaseLost`, async () => {
      const reports = await withWorkerBroker((port) => silentWorker(port, silentRounds));
      const bad = reports.filter((r) => r.secondToken === null || r.secondToken === r.firstToken || r.lateResultCode !== 10 || r.lateRenewal[0] !== null || !r.secondCompleted || r.finalStatus !== "completed" || r.redeliveries !== 0);
      recordRow({
        test: "workers/silent",
        operations: reports.length,
        lost: reports.filter((r) => r.finalStatus !== "completed").length,
        unexpected: reports.filter((r) => r.lateResultCode !== 10).length,
        duplicates: reports.reduce((n, r) => n + r.redeliveries, 0),
        crashes: 0,
        pass: bad.length === 0,
        note: `late results rejected ${reports.filter((r) => r.lateResultCode === 10).length}/${reports.length}`,
      });
      expect(bad).toEqual([]);
      // The expiry counted as an attempt.
      expect(reports.every((r) => r.attempts === 1)).toBe(true);
    }, long ? 300_000 : 60_000);

    const kills = long ? 10 : 2;
    test(`a worker process SIGKILLed mid-task (${kills} times): the task is delivered again long before its lease ends`, async () => {
      const reports = await withWorkerBroker(async (port) => {
        const list = [];
        for (let i = 0; i < kills; i++) list.push(await killedWorker(port, i));
        return list;
      });
      // The lease is 120 s and the rescuer's claim waits at most 20 s: a task handed out again
      // at all was reclaimed because its worker died, not because its lease ran out. How soon
      // (the reaper acts within two heartbeat intervals) is printed in the summary, not asserted.
      const maxMs = Math.max(...reports.map((r) => r.reclaimMs));
      const pass = reports.every((r) => r.sameTask && r.attemptsAfter === 1);
      recordRow({
        test: "workers/killed",
        operations: reports.length,
        lost: reports.filter((r) => !r.sameTask).length,
        unexpected: 0,
        duplicates: 0,
        crashes: 0,
        pass,
        note: `reclaimed after ${reports.map((r) => Math.round(r.reclaimMs)).join(", ")} ms (heartbeat 500 ms, max ${Math.round(maxMs)})`,
      });
      for (const r of reports) {
        expect(r.sameTask).toBe(true);
        // The worker's death counts as an attempt (it may have been the task that killed it).
        expect(r.attemptsAfter).toBe(1);
      }
    }, long ? 300_000 : 60_000);

    const normal = long ? 500 : 30;
    test(`a poison task failing every run ends dead after max_retries and does not hold up ${normal} tasks behind it`, async () => {
      const r = await withWorkerBroker((port) => poisonTask(port, normal));
      const pass = r.poisonStatus === "dead" && r.poisonRuns === 3 && r.normalCompleted === normal && r.completedWhilePoisonAlive > 0;
      recordRow({
        test: "workers/poison",
        operations: r.poisonRuns + r.normalCompleted,
        lost: r.normalTotal - r.normalCompleted,
        unexpected: 0,
        duplicates: 0,
        crashes: 0,
        pass,
        note: `poison ${r.poisonStatus} after ${r.poisonRuns} runs; ${r.completedWhilePoisonAlive} others completed while it was retrying`,
      });
      expect(r.poisonStatus).toBe("dead");
      expect(r.poisonRuns).toBe(3);
      expect(r.poisonAttempts).toBe(3);
      expect(r.normalCompleted).toBe(normal);
      expect(r.completedWhilePoisonAlive).toBeGreaterThan(0);
    }, long ? 300_000 : 60_000);
  });
}
