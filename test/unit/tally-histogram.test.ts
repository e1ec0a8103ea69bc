// TallyHistogram must read exactly as prom-client's own Histogram fed the same observations: same
// series, labels, cumulative buckets, sum and count in the exposition text a scrape returns.

import { describe, expect, test } from "bun:test";
import { Histogram, Registry } from "prom-client";
import { TallyHistogram } from "../../src/tally-histogram.ts";

const BUCKETS = [0.005, 0.01, 0.1, 1, 2.5, 10];

function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  const tally = new TallyHistogram({ name: "t_seconds", help: "h", labelName: "queue", buckets: BUCKETS, registers: [ours] });
  const reference = new Histogram({ name: "t_seconds", help: "h", labelNames: ["queue"], buckets: BUCKETS, registers: [theirs] });
  return { ours, theirs, tally, reference };
}

describe("TallyHistogram", () => {
  test("scrapes exactly like prom-client's Histogram given the same observations, bounds included", async () => {
    const { ours, theirs, tally, reference } = pair();
    // Values on, between, below and above the bounds, over three label values.
    const values = [0, 0.005, 0.0051, 0.01, 0.05, 0.1, 0.99, 1, 2.5, 2.6, 9.99, 10, 10.01, 1e6];
    for (const [i, v] of values.entries()) {
      const queue = ["a", "b", "c"][i % 3]!;
      tally.record(tally.tally(queue), v);
      reference.observe({ queue }, v);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  test("reset zeroes the counts in place, so a held tally still records afterwards", async () => {
    const { ours, theirs, tally, reference } = pair();
    const held = tally.tally("a");
    tally.record(held, 0.5);
    ours.resetMetrics();
    tally.record(held, 3);
    reference.observe({ queue: "a" }, 3);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });
});
