// persistence.auto_compact as the spec says: false stops the background compaction job, deletion
// included (finished tasks stay readable past their retention); true deletes them. A real broker
// with retention 0 days and a 0.2 s interval, tasks completed by a real worker over TCP.

import { describe, expect, test } from "bun:test";
import { Client, Worker } from "../../src/index.ts";
import { startBroker } from "../helpers/broker.ts";

/** Completes one task through a real worker and returns its id and the broker's stats. */
async function completeOne(autoCompact: boolean): Promise<{ status: string; retentionRuns: unknown }> {
  const broker = await startBroker({
    "persistence.auto_compact": autoCompact,
    "persistence.completed_task_retention_days": 0,
    "persistence.compact_interval_secs": 0.2,
  });
  const url = `tq://127.0.0.1:${broker.port}`;
  const client = new Client({ url, env: {} });
  const worker = new Worker({ url, env: {}, queues: ["ac"], handleSignals: false });
  worker.register("job", () => "done");
  try {
    const { id } = await client.submit("job", null, { queue: "ac" });
    await worker.start();
    expect(await client.result(id, { wait: 10_000 })).toBe("done");
    // Five compaction intervals: with the job on, the finished task is past retention (0 days).
    await Bun.sleep(1000);
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
