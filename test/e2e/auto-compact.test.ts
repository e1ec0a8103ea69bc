// persistence.auto_compact as the spec says: false stops the background compaction job, deletion
// included (finished tasks stay readable past their retention); true deletes them. A real broker
// on a FakeClock with retention 0 days and a 10 min interval, tasks completed by a real worker over TCP.

import { describe, expect, test } from "bun:test";
import { Client, Worker } from "../../src/index.ts";
import { startBroker } from "../helpers/broker.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { eventually } from "../helpers/wire.ts";

const INTERVAL_SECS = 600;

/** Completes one task through a real worker and returns its id and the broker's stats. */
async function completeOne(autoCompact: boolean): Promise<{ status: string; retentionRuns: unknown }> {
  const clock = new FakeClock();
  const broker = await startBroker(
    {
      "persistence.auto_compact": autoCompact,
      "persistence.completed_task_retention_days": 0,
      "persistence.compact_interval_secs": INTERVAL_SECS,
      // The worker and the client stay connected while the clock jumps past the interval.
      "broker.idle_timeout_secs": 3600,
    },
    undefined,
    { clock },
  );
  const url = `tq://127.0.0.1:${broker.port}`;
  const client = new Client({ url, env: {} });
  const worker = new Worker({ url, env: {}, queues: ["ac"], handleSignals: false });
  worker.register("job", () => "done");
  try {
    const { id } = await client.submit("job", null, { queue: "ac" });
    await worker.start();
    expect(await client.result(id, { wait: 10_000 })).toBe("done");
    const runs = async (): Promise<number> => (await broker.app.broker.stats()).background?.retention?.runs ?? 0;
    clock.advance(INTERVAL_SECS * 1000 - 1);
    expect(await runs()).toBe(0);
    // With the job on, a pass runs at the interval, and the finished task is past retention (0
    // days): wait for the pass (real I/O) to finish. With it off, nothing is armed to run.
    clock.advance(1);
    if (autoCompact) await eventually(async () => (await runs()) > 0, 5000, 5);
    const status = await client.status(id).then(
      (t) => t.status as string,
      (err: Error) => `${err.name}: ${err.message}`,
    );
    // The stats list every background job from the start (runs 0); a job that never ran stays at 0.
    return { status, retentionRuns: (await broker.app.broker.stats()).background?.retention?.runs ?? null };
  } finally {
    await worker.stop();
    await client.close();
    await broker.stop();
  }
}

describe("persistence.auto_compact", () => {
  test("false: no compaction job runs, so a finished task past its retention stays", async () => {
    expect(await completeOne(false)).toEqual({ status: "completed", retentionRuns: 0 });
  });

  test("true: the job deletes the finished task once it is past its retention", async () => {
    const got = await completeOne(true);
    expect(got.status).toStartWith("NotFound");
    expect(got.retentionRuns).toBeGreaterThan(0);
  });
});
