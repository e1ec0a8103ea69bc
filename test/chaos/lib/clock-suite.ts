// The tests of scenario 6 (clock jumps), defined once for both tiers: fixed jumps in both, and a
// seeded random walk (300 steps short, 5,000 long). scenarios.ts runs them in each tier.

import { afterAll, describe, expect, test } from "bun:test";
import { BrokerError, ErrorCode } from "../../../src/protocol/errors.ts";
import { MAX_SLEEP_MS, newTask, openTimeRig, randomJumps, type TimeRig } from "./clock-jumps.ts";
import { printSummary, recordRow } from "./summary.ts";
import { chaosSeed, type ChaosTier } from "./tier.ts";
import { claim, complete, fail } from "../../helpers/store-ops.ts";

const MIN = 60_000;

async function claimAll(rig: TimeRig, max = 100): Promise<{ id: string; token: number }[]> {
  const leases = await claim(rig.store, { queues: ["time"], workerId: "w", max, nowMs: rig.clock.now() });
  return leases.map((l) => ({ id: l.task.id, token: l.token }));
}

async function withRig(body: (rig: TimeRig) => Promise<void>): Promise<void> {
  const rig = await openTimeRig();
  try {
    await body(rig);
  } finally {
    await rig.close();
  }
}

export function defineClockTests(tier: ChaosTier): void {
  afterAll(printSummary);

  describe("clock jumps (store + scheduler, injected clock)", () => {
    test("a 10-minute backward step expires no lease early; they expire once, when the wall clock reaches their deadline", async () => {
      await withRig(async (rig) => {
        await rig.store.submit(Array.from({ length: 20 }, () => newTask({ leaseMs: 30_000 })), rig.clock.now());
        const leases = await claimAll(rig);
        const deadline = rig.clock.now() + 30_000;
        rig.clock.jump(-10 * MIN);
        await rig.pass(1000);
        expect(rig.clock.nextTimerInMs()!).toBeLessThanOrEqual(MAX_SLEEP_MS);
        await rig.pass(60_000);
        expect(rig.expiredTotal).toBe(0);
        let waitedMs = 61_000;
        // Bounded: the step plus the lease plus slack, in 1 s passes.
        while (rig.expiredTotal === 0 && waitedMs < 12 * MIN) {
          await rig.pass(1000);
          waitedMs += 1000;
        }
        expect(rig.expiredTotal).toBe(leases.length);
        expect(rig.clock.now()).toBeGreaterThanOrEqual(deadline);
        expect(rig.clock.now()).toBeLessThanOrEqual(deadline + MAX_SLEEP_MS + 250);
        await rig.pass(5 * MIN);
        expect(rig.expiredTotal).toBe(leases.length);
        for (const l of leases) expect((await rig.store.get(l.id))!.attempts).toBe(1);
      });
    }, 60_000);

    test("a forward step shorter than the lease expires nothing; one past it expires each lease once, and the old tokens get LeaseLost", async () => {
      await withRig(async (rig) => {
        await rig.store.submit(Array.from({ length: 20 }, () => newTask({ leaseMs: 30_000 })), rig.clock.now());
        const leases = await claimAll(rig);
        rig.clock.jump(20_000);
        await rig.pass(2000);
        expect(rig.expiredTotal).toBe(0);
        rig.clock.jump(15_000);
        await rig.pass(2000);
        expect(rig.expiredTotal).toBe(20);
        await rig.pass(2 * MIN);
        expect(rig.expiredTotal).toBe(20);
        const late = await complete(rig.store, leases[0]!, { result: null, resultIsJson: false }, rig.clock.now()).catch((err: unknown) => err);
        expect(late instanceof BrokerError && late.code === ErrorCode.LeaseLost).toBe(true);
        const again = await claimAll(rig);
        expect(again.length).toBe(20);
      });
    }, 60_000);

    test("delayed tasks: a backward step does not promote them early, and they are promoted once their run_at comes; a forward step promotes at once", async () => {
      await withRig(async (rig) => {
        const runAtMs = rig.clock.now() + MIN;
        await rig.store.submit(Array.from({ length: 10 }, () => newTask({ runAtMs })), rig.clock.now());
        rig.clock.jump(-10 * MIN);
        await rig.pass(MIN + 1000);
        expect(await claimAll(rig)).toEqual([]);
        let waitedMs = 0;
        let got: { id: string; token: number }[] = [];
        while (got.length === 0 && waitedMs < 12 * MIN) {
          await rig.pass(1000);
          waitedMs += 1000;
          got = await claimAll(rig);
        }
        expect(got.length).toBe(10);
        expect(rig.clock.now()).toBeGreaterThanOrEqual(runAtMs);
        expect(await claimAll(rig)).toEqual([]);
        for (const l of got) await complete(rig.store, l, { result: null, resultIsJson: false }, rig.clock.now());

        await rig.store.submit(Array.from({ length: 10 }, () => newTask({ runAtMs: rig.clock.now() + MIN })), rig.clock.now());
        rig.clock.jump(2 * 60 * MIN);
        await rig.pass(MAX_SLEEP_MS + 500);
        expect((await claimAll(rig)).length).toBe(10);
      });
    }, 60_000);

    test("a retry's backoff survives a backward step (not early) and a forward step (ready at the next tick)", async () => {
      await withRig(async (rig) => {
        await rig.store.submit([newTask()], rig.clock.now());
        const [lease] = await claimAll(rig);
        const outcome = await fail(rig.store, lease!, { error: "boom", unrecoverable: false }, rig.clock.now());
        expect(outcome.status).toBe("failed");
        rig.clock.jump(-10 * MIN);
        await rig.pass(5000);
        expect(await claimAll(rig)).toEqual([]);
        rig.clock.jump(10 * MIN + 5000);
        await rig.pass(MAX_SLEEP_MS + 500);
        expect((await claimAll(rig)).map((l) => l.id)).toEqual([lease!.id]);
      });
    }, 60_000);

    const steps = tier === "long" ? 5000 : 300;
    test(`random walk of ${steps} steps (operations and ±10 min steps): no early or missed expiry, no early promotion, nothing stuck`, async () => {
      const seed = chaosSeed();
      const r = await randomJumps({ steps, seed, maxJumpMs: 10 * MIN });
      const problems = [...r.earlyExpiries, ...r.missedExpiries, ...r.earlyPromotions, ...r.wrongResults];
      recordRow({
        test: "clock-jumps/random",
        operations: r.steps,
        lost: r.stuck,
        unexpected: problems.length,
        duplicates: 0,
        crashes: 0,
        pass: problems.length === 0 && r.stuck === 0 && r.maxSchedulerSleepMs <= MAX_SLEEP_MS,
        note: `seed ${seed}; ${r.jumps} jumps; ${r.submitted} tasks, ${r.finishedAfterDrain} finished after drain; longest scheduler sleep ${r.maxSchedulerSleepMs} ms`,
      });
      expect(r.earlyExpiries.slice(0, 5)).toEqual([]);
      expect(r.missedExpiries.slice(0, 5)).toEqual([]);
      expect(r.earlyPromotions.slice(0, 5)).toEqual([]);
      expect(r.wrongResults.slice(0, 5)).toEqual([]);
      expect(r.stuck).toBe(0);
      expect(r.finishedAfterDrain).toBe(r.submitted);
      expect(r.maxSchedulerSleepMs).toBeLessThanOrEqual(MAX_SLEEP_MS);
    }, tier === "long" ? 900_000 : 120_000);
  });
}
