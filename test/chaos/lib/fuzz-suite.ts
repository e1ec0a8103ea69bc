// The tests of scenario 2 (codec fuzzing), defined once for both tiers: 100,000 frames short,
// 10,000,000 (time-bounded) long; plus regression tests for the oversized replies it found.

import { afterAll, describe, expect, test } from "bun:test";
import { END_RSS_LIMIT_KIB, PEAK_RSS_LIMIT_KIB, runCodecFuzz } from "./codec-fuzz.ts";
import { oversizeReply } from "./oversize-replies.ts";
import { printSummary, recordRow } from "./summary.ts";
import { chaosSeed, type ChaosTier } from "./tier.ts";

export function defineFuzzTests(tier: ChaosTier): void {
  afterAll(printSummary);
  const long = tier === "long";
  const frames = long ? 10_000_000 : 100_000;
  // The short tier stops at 100,000 frames; its budget is a ceiling for a loaded machine, where
  // the valid requests among the fuzzed frames (ListTasks pages, waits) take longer to answer.
  const budgetMs = (long ? Number(process.env.TQ_CHAOS_FUZZ_BUDGET_SECS ?? 1200) : 150) * 1000;

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

    // Regression: a page whose reply passed MAX_FRAME_BYTES made encodeResponse throw inside the
    // promise callback and hung the connection. Pages now stop before the frame limit, and a reply
    // that still cannot be encoded is answered with an error.
    test("a ListTasks page over 16 MiB is answered (an error or a shorter page) and the connection keeps working", async () => {
      const r = await oversizeReply("ListTasks", 20);
      expect(r.answer).not.toBe("no reply");
      expect(r.pingAfter).toBe("Pong");
    }, 60_000);

    // Regression: a batch claim of 20 tasks of 1 MiB leased all 20 but could not send them. A claim
    // now takes only what fits one reply; the rest stays first in line.
    test("a batch claim whose reply would pass 16 MiB hands out only what fits, leasing nothing it does not deliver", async () => {
      const r = await oversizeReply("ClaimTask", 20);
      expect(r.answer).not.toBe("no reply");
      expect(r.leasedButUndelivered).toBe(0);
      expect(r.pingAfter).toBe("Pong");
    }, 60_000);
  });
}
