// Short tier of chaos scenario 2 (100,000 hostile frames against a live broker with a canary);
// the long tier is test/chaos/codec-fuzz.test.ts. Scenario: test/chaos/lib/codec-fuzz.ts.

import { afterAll, expect, test } from "bun:test";
import { END_RSS_LIMIT_KIB, PEAK_RSS_LIMIT_KIB, runCodecFuzz } from "../chaos/lib/codec-fuzz.ts";
import { printSummary, recordRow } from "../chaos/lib/summary.ts";
import { chaosSeed } from "../chaos/lib/tier.ts";

afterAll(printSummary);

test("100,000 fuzzed frames: the broker stays up, its memory bounded, the canary untouched", async () => {
  const report = await runCodecFuzz({ frames: 100_000, budgetMs: 60_000, seed: chaosSeed() });
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
  expect(report.framesSent).toBeGreaterThanOrEqual(100_000);
  expect(report.canary.rounds).toBeGreaterThan(0);
}, 120_000);
