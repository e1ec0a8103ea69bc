// The peer bench's beanstalkd agent roles, run in this process against a real beanstalkd (skipped
// loudly without one): the producer's ids are the server's, the worker deletes each job once and
// reports its id, the paced producer's send time reaches the worker, and a stop ends the roles.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { PacedProducerSpec, ProducerSpec, WorkerSpec } from "../../src/bench/agent-protocol.ts";
import { BeanstalkConn } from "../../bench/peers/beanstalk-conn.ts";
import { runBeanstalkPacedProducer, runBeanstalkProducer, runBeanstalkWorker } from "../../bench/peers/beanstalkd-agents.ts";
import { startBeanstalkd, type RunningBeanstalkd } from "../../bench/peers/beanstalkd-server.ts";
import { findBeanstalkd, warnSkipped } from "../helpers/beanstalkd.ts";

const found = await findBeanstalkd();
warnSkipped("the beanstalkd agent tests", found);
const DEADLINE_MS = 30_000;

/** A stop signal the test fires, and the role's go (already given). */
function signals(): { ready: () => Promise<void>; stop: Promise<void>; stopNow: () => void } {
  let stopNow = (): void => {};
  const stop = new Promise<void>((resolve) => (stopNow = resolve));
  return { ready: () => Promise.resolve(), stop, stopNow };
}

async function tubeCounts(server: RunningBeanstalkd): Promise<{ ready: number; reserved: number }> {
  const conn = await BeanstalkConn.open(server.host, server.port);
  try {
    const s = await conn.stats();
    return { ready: Number(s["current-jobs-ready"]), reserved: Number(s["current-jobs-reserved"]) };
  } finally {
    conn.close();
  }
}

describe.skipIf(found.path === null)("beanstalkd agent roles", () => {
  let server: RunningBeanstalkd;

  beforeAll(async () => {
    server = await startBeanstalkd(found.path!, { binlog: null, maxJobBytes: 1000 });
  });

  afterAll(async () => {
    await server.stop();
  });

  test("producer then worker: every id the server gave a put is deleted once and reported, and the tube is left empty", async () => {
    const p = signals();
    const producerSpec: ProducerSpec = { role: "producer", host: server.host, port: server.port, queue: "ids", n: 1234, payloadBytes: 100, batch: 100, window: 4, recordIds: true, deadlineMs: DEADLINE_MS };
    let progress = 0;
    const produced = await runBeanstalkProducer(producerSpec, p.ready, p.stop, (n) => (progress = n));
    expect(produced.submitted).toBe(1234);
    expect(progress).toBe(1234);
    expect(produced.errors).toEqual({});
    expect(new Set(produced.ids).size).toBe(1234);
    expect(produced.lastAckMs).toBeGreaterThanOrEqual(produced.firstSendMs);

    const w = signals();
    const workerSpec: WorkerSpec = { role: "worker", host: server.host, port: server.port, queue: "ids", lanes: 3, batch: 50, waitMs: 250, recordIds: true, recordLatency: false, deadlineMs: DEADLINE_MS, consumer: "raw", prefetch: null, preloaded: false };
    const report = runBeanstalkWorker(workerSpec, w.ready, w.stop, (n) => {
      if (n >= 1234) w.stopNow();
    });
    const done = await report;
    expect(done.completed).toBe(1234);
    expect(done.errors).toEqual({});
    expect([...done.ids].sort()).toEqual([...produced.ids].sort());
    expect(await tubeCounts(server)).toEqual({ ready: 0, reserved: 0 });
  }, 40_000);

  test("paced producer to idle workers: one latency per job, from the send time the producer wrote into the job", async () => {
    const w = signals();
    const workerSpec: WorkerSpec = { role: "worker", host: server.host, port: server.port, queue: "paced", lanes: 2, batch: 100, waitMs: 250, recordIds: false, recordLatency: true, deadlineMs: DEADLINE_MS, consumer: "raw", prefetch: null, preloaded: false };
    const worker = runBeanstalkWorker(workerSpec, w.ready, w.stop, (n) => {
      if (n >= 50) w.stopNow();
    });
    const p = signals();
    const pacedSpec: PacedProducerSpec = { role: "paced-producer", host: server.host, port: server.port, queue: "paced", ratePerSec: 100, count: 50, payloadBytes: 100, deadlineMs: DEADLINE_MS };
    const paced = await runBeanstalkPacedProducer(pacedSpec, p.ready, p.stop);
    expect(paced.submitted).toBe(50);
    // 50 at 100/s: the schedule spans ~0.49 s.
    expect(paced.lastAckMs - paced.firstSendMs).toBeGreaterThan(400);
    const done = await worker;
    expect(done.completed).toBe(50);
    expect(done.latenciesMs).toHaveLength(50);
    for (const ms of done.latenciesMs) {
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(5_000);
    }
  }, 40_000);

  test("a worker told to stop while parked on an empty tube ends at once, not at its reserve timeout (1 s)", async () => {
    const w = signals();
    const workerSpec: WorkerSpec = { role: "worker", host: server.host, port: server.port, queue: "empty", lanes: 2, batch: 10, waitMs: 250, recordIds: true, recordLatency: false, deadlineMs: DEADLINE_MS, consumer: "raw", prefetch: null, preloaded: false };
    const worker = runBeanstalkWorker(workerSpec, w.ready, w.stop, () => {});
    await Bun.sleep(100);
    const t0 = performance.now();
    w.stopNow();
    const done = await worker;
    expect(performance.now() - t0).toBeLessThan(500);
    expect(done.completed).toBe(0);
    expect(done.errors).toEqual({});
  });
});
