// Scenario 7: SIGTERM the real broker at random moments while producers submit and workers
// complete (some leases held open), restart on the same data dir, repeat; then drain and check
// the whole history as scenario 1 does. Each stop must exit 0 within the shutdown timeout.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RawConn } from "../../helpers/raw-conn.ts";
import { launchBroker, reap, type LaunchedBroker } from "./broker-proc.ts";
import { History, type CheckResult } from "./history.ts";
import { connectRetry, drainAndCheck, produce, work, type LoadControl } from "./queue-load.ts";
import type { ChaosRow } from "./summary.ts";
import { seededRandom } from "./tier.ts";

const SHUTDOWN_TIMEOUT_SECS = 10;
const ENV = {
  TQ_PERSISTENCE_SYNC: "full",
  TQ_BROKER_SHUTDOWN_TIMEOUT_SECS: String(SHUTDOWN_TIMEOUT_SECS),
  TQ_WORKER_HEARTBEAT_INTERVAL_SECS: "60",
};

export interface GracefulReport {
  row: ChaosRow;
  check: CheckResult;
  stops: number;
  /** Exit codes other than 0, stops that took longer than the timeout, or no "stopped" line. */
  badStops: string[];
  /** Longest time from SIGTERM to exit, ms. */
  maxStopMs: number;
  /** Submits answered ShuttingDown (clean refusals during the stop). */
  refusedWhileStopping: number;
}

export async function runGracefulStops(params: { stops: number; seed: number; budgetMs: number }): Promise<GracefulReport> {
  const random = seededRandom(params.seed);
  const dataDir = mkdtempSync(join(tmpdir(), "tq-chaos-term-"));
  const history = new History();
  const badStops: string[] = [];
  let maxStopMs = 0;
  let stops = 0;
  let broker: LaunchedBroker | null = null;
  const started = Date.now();
  let check: CheckResult;
  try {
    for (let round = 0; stops < params.stops && Date.now() - started < params.budgetMs; round++) {
      broker = launchBroker({ dataDir, env: ENV });
      const port = await broker.listening();
      const conns: RawConn[] = await Promise.all(Array.from({ length: 6 }, () => connectRetry(port)));
      const control: LoadControl = { stop: false };
      const loops = [
        ...conns.slice(0, 3).map((conn, p) => produce(conn, history, { queue: "chaos", prefix: `t${round}p${p}`, leaseMs: 600_000, random, control, maxBatches: 100_000 })),
        ...conns.slice(3).map((conn) => work(conn, history, { queue: "chaos", random, control, holdFraction: 0.1, maxClaims: 100_000 })),
      ];
      await Bun.sleep(100 + Math.floor(random() * 500));
      const signalledAt = performance.now();
      broker.proc.kill("SIGTERM");
      const code = await broker.exited;
      const stopMs = performance.now() - signalledAt;
      maxStopMs = Math.max(maxStopMs, stopMs);
      // Leases die with the process: re-delivery after the restart is inside the window.
      history.crash();
      control.stop = true;
      await Promise.all(loops);
      for (const conn of conns) conn.close();
      if (code !== 0 || stopMs > SHUTDOWN_TIMEOUT_SECS * 1000 || !broker.output().includes('"msg":"stopped"')) {
        badStops.push(`round ${round}: exit ${code} after ${Math.round(stopMs)} ms\n${broker.output().slice(-1500)}`);
      }
      broker = null;
      stops++;
    }
    const drained = await drainAndCheck(dataDir, ENV, history, random, 3);
    check = drained.check;
    if (drained.exitCode !== 0) badStops.push(`final stop: exit ${drained.exitCode}`);
  } finally {
    await reap(broker);
    rmSync(dataDir, { recursive: true, force: true });
  }
  const lost = check.lostSubmits.length + check.lostCompletions.length + check.vanished.length;
  const unexpected = check.unexpected.length + check.falseFailures.length;
  const duplicates = check.duplicatesBeyondWindow.length + check.deliveredAfterComplete.length;
  return {
    row: {
      test: "graceful-stop",
      operations: check.operations,
      lost,
      unexpected,
      duplicates,
      crashes: badStops.length,
      pass: lost === 0 && unexpected === 0 && duplicates === 0 && badStops.length === 0 && check.submitsOk > 0,
      note: `seed ${params.seed}; ${stops} stops, longest ${Math.round(maxStopMs)} ms; submits ok ${check.submitsOk}/unknown ${check.submitsUnknown}/refused ${check.submitsFailed}; completions ok ${check.completionsOk}; redelivered in window ${check.duplicatesInWindow}`,
    },
    check,
    stops,
    badStops,
    maxStopMs,
    refusedWhileStopping: check.submitsFailed,
  };
}
