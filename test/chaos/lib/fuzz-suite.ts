// The tests of scenario 2 (codec fuzzing), defined once for both tiers: 100,000 frames short,
// 10,000,000 (time-bounded) long; plus the regression tests for the oversized replies it found.

import { afterAll, describe, expect, test } from "bun:test";
import { END_RSS_LIMIT_KIB, PEAK_RSS_LIMIT_KIB, runCodecFuzz } from "./codec-fuzz.ts";
import { oversizeReply } from "./oversize-replies.ts";
import { printSummary, recordRow } from "./summary.ts";
import { chaosSeed, type ChaosTier } from "./tier.ts";

export function defineFuzzTests(tier: ChaosTier): void {
  afterAll(printSummary);
  const long = tier === "long";
  const frames = long ? 10_000_000 : 100_000;
  const budgetMs = (long ? Number(process.env.TQ_CHAOS_FUZZ_BUDGET_SECS ?? 1200) : 60) * 1000;

  describe("codec fuzzing", () => {
    test(`up to ${frames} fuzzed frames: the broker stays up, its memory bounded, the canary untouched`, async () => {
      const report = await runCodecFuzz({ frames, budgetMs, seed: chaosSeed() });
      recordRow(report.row);
      expect(report.canary.errors).toEqual([]);
      expect(report.brokerExit).toBe(0);
      expect(report.undecodableReplies).toEqual([]);
      expect(report.errorLines).toEqual([]);
      expect(report.internalErrors).toBe(0);
      expect(report.stallDetails).toEqual([]);
      expect(report.stalls).toBe(0);
      expect(report.peakRssKiB).toBeLessThan(PEAK_RSS_LIMIT_KIB);
      expect(report.endRssKiB).toBeLessThan(END_RSS_LIMIT_KIB);
      expect(report.framesSent).toBeGreaterThanOrEqual(Math.min(frames, 100_000));
      expect(report.canary.rounds).toBeGreaterThan(0);
    }, budgetMs + 120_000);

    // BUG (src/net/tcp-server.ts `handle`, and the page size of ListTasks in src/broker/): a page
    // whose reply passes MAX_FRAME_BYTES makes encodeResponse throw FrameTooLarge inside the
    // promise callback; the reply slot is never filled, so the request and every later reply on
    // that connection hang forever. Reproduce: 20 tasks of 1 MiB, ListTasks limit 20.
    test.todo("a ListTasks page over 16 MiB is answered (an error or a shorter page) and the connection keeps working", async () => {
      const r = await oversizeReply("ListTasks", 20);
      expect(r.answer).not.toBe("no reply");
      expect(r.pingAfter).toBe("Pong");
    }, 60_000);

    // BUG (same place, ClaimTask): max_batch_claim 20 and 20 ready tasks of 1 MiB: the claim is
    // committed (20 tasks in_progress) but its 20 MiB reply cannot be encoded, so nobody gets the
    // tasks until their leases expire (and each expiry counts an attempt).
    test.todo("a batch claim whose reply would pass 16 MiB hands out only what fits, leasing nothing it does not deliver", async () => {
      const r = await oversizeReply("ClaimTask", 20);
      expect(r.answer).not.toBe("no reply");
      expect(r.leasedButUndelivered).toBe(0);
      expect(r.pingAfter).toBe("Pong");
    }, 60_000);
  });
}
