// Chaos scenario 2 for `bun run test:chaos`: codec fuzzing with a canary. Long tier
// (TQ_CHAOS_TIER=long): 10,000,000 frames, bounded by TQ_CHAOS_FUZZ_BUDGET_SECS (default 20 min).

import { afterAll, expect, test } from "bun:test";
import { END_RSS_LIMIT_KIB, PEAK_RSS_LIMIT_KIB, runCodecFuzz } from "./lib/codec-fuzz.ts";
import { printSummary, recordRow } from "./lib/summary.ts";
import { byTier, chaosSeed } from "./lib/tier.ts";

afterAll(printSummary);

const frames = byTier(100_000, 10_000_000);
const budgetMs = byTier(60, Number(process.env.TQ_CHAOS_FUZZ_BUDGET_SECS ?? 1200)) * 1000;

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
}, budgetMs + 120_000);
