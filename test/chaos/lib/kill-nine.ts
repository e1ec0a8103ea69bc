// Scenario 1: SIGKILL the real broker under load again and again on one data dir, then drain and
// check the history. Kill moments rotate through approximations of the named points (random, after
// the Nth ack, during start-up, after a completion burst with retention running); see guarantees.md.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RawConn } from "../../helpers/raw-conn.ts";
import { launchBroker, reap, type LaunchedBroker } from "./broker-proc.ts";
import { History, type CheckResult } from "./history.ts";
import { connectRetry, drainAndCheck, produce, work, type LoadControl } from "./queue-load.ts";
import type { ChaosRow } from "./summary.ts";
import { seededRandom } from "./tier.ts";

export const KILL_KINDS = ["random", "after-acks", "startup", "after-completions"] as const;
export type KillKind = (typeof KILL_KINDS)[number];

export interface KillNineParams {
  kills: number;
  /** Stop killing once this much time has gone (the drain still runs). */
  budgetMs: number;
  seed: number;
  producers?: number;
  workers?: number;
  /** persistence.sync of every incarnation (default full); both must survive a process crash. */
  sync?: "full" | "interval";
  /** Called after each kill, for progress output in long runs. */
  progress?: (done: number, kind: KillKind) => void;
}

export interface KillNineReport {
  row: ChaosRow;
  check: CheckResult;
  kills: number;
  killsByKind: Record<KillKind, number>;
  unexpectedExits: string[];
}

const QUEUE = "chaos";
/** Longer than any run: a second delivery can then only come from a crash. */
const LEASE_MS = 600_000;
const BASE_ENV = {
  TQ_PERSISTENCE_COMPACT_INTERVAL_SECS: "0.2",
  TQ_PERSISTENCE_COMPLETED_TASK_RETENTION_DAYS: "0",
  TQ_BROKER_SHUTDOWN_TIMEOUT_SECS: "10",
  // The drain's workers must not be declared dead while the test process is busy.
  TQ_WORKER_HEARTBEAT_INTERVAL_SECS: "60",
};

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await Bun.sleep(5);
}

export async function runKillNine(params: KillNineParams): Promise<KillNineReport> {
  const random = seededRandom(params.seed);
  const sync = params.sync ?? "full";
  const BROKER_ENV = { ...BASE_ENV, TQ_PERSISTENCE_SYNC: sync };
  const dataDir = mkdtempSync(join(tmpdir(), "tq-chaos-kill-"));
  const history = new History();
  const killsByKind: Record<KillKind, number> = { random: 0, "after-acks": 0, startup: 0, "after-completions": 0 };
  const unexpectedExits: string[] = [];
  const startedMs = Date.now();
  let kills = 0;
  let broker: LaunchedBroker | null = null;
  const nProducers = params.producers ?? 3;
  const nWorkers = params.workers ?? 3;
  let check: CheckResult | null = null;
  try {
    for (let round = 0; kills < params.kills && Date.now() - startedMs < params.budgetMs; round++) {
      const kind = KILL_KINDS[round % KILL_KINDS.length]!;
      broker = launchBroker({ dataDir, env: BROKER_ENV });
      if (kind === "startup") {
        await Bun.sleep(5 + Math.floor(random() * 250));
        broker.proc.kill("SIGKILL");
        await broker.exited;
        history.crash();
        kills++;
        killsByKind[kind]++;
        params.progress?.(kills, kind);
        continue;
      }
      const port = await broker.listening();
      const conns: RawConn[] = await Promise.all(Array.from({ length: nProducers + nWorkers }, () => connectRetry(port)));
      const control: LoadControl = { stop: false };
      const incarnation = history.incarnation;
      const loops = [
        ...conns.slice(0, nProducers).map((conn, p) =>
          produce(conn, history, { queue: QUEUE, prefix: `r${round}p${p}`, leaseMs: LEASE_MS, random, control, maxBatches: 100_000 }),
        ),
        ...conns.slice(nProducers).map((conn) => work(conn, history, { queue: QUEUE, random, control, holdFraction: 0.1, maxClaims: 100_000 })),
      ];
      const target = broker;
      let killed = false;
      const kill = (): void => {
        if (killed) return;
        killed = true;
        target.proc.kill("SIGKILL");
      };
      if (kind === "random") {
        await Bun.sleep(50 + Math.floor(random() * 350));
        kill();
      } else {
        // Killing inside the ack callback puts the kill between this reply and the next ones.
        const baseline = kind === "after-acks" ? history.submitsAcked : history.completionsAcked;
        const wanted = 1 + Math.floor(random() * (kind === "after-acks" ? 300 : 150));
        const off = history.onAck(() => {
          const now = kind === "after-acks" ? history.submitsAcked : history.completionsAcked;
          if (now - baseline >= wanted) kill();
        });
        await waitFor(() => killed, 3000);
        off();
        kill();
      }
      const code = await target.exited;
      if (target.proc.signalCode !== "SIGKILL") unexpectedExits.push(`round ${round}: exit ${code}\n${target.output().slice(-2000)}`);
      if (history.incarnation === incarnation) history.crash();
      control.stop = true;
      await Promise.all(loops);
      for (const conn of conns) conn.close();
      kills++;
      killsByKind[kind]++;
      params.progress?.(kills, kind);
    }

    // Drain: one more incarnation, no kills, workers finish everything still unfinished.
    const drained = await drainAndCheck(dataDir, BROKER_ENV, history, random, nWorkers);
    broker = null;
    check = drained.check;
    if (drained.exitCode !== 0) unexpectedExits.push(`final stop: exit ${drained.exitCode}\n${drained.output.slice(-2000)}`);
  } finally {
    await reap(broker);
    rmSync(dataDir, { recursive: true, force: true });
  }
  const lost = check.lostSubmits.length + check.lostCompletions.length;
  const unexpected = check.unexpected.length + check.falseFailures.length;
  const duplicates = check.duplicatesBeyondWindow.length + check.deliveredAfterComplete.length;
  const pass = lost === 0 && unexpected === 0 && duplicates === 0 && unexpectedExits.length === 0 && check.submitsOk > 0;
  const note =
    `seed ${params.seed}; ${kills} kills (${KILL_KINDS.map((k) => `${k} ${killsByKind[k]}`).join(", ")}); ` +
    `submits ok ${check.submitsOk}/unknown ${check.submitsUnknown}/failed ${check.submitsFailed}; ` +
    `deliveries ${check.deliveries}; completions ok ${check.completionsOk}; redelivered in window ${check.duplicatesInWindow}; ` +
    `${Math.round((Date.now() - startedMs) / 1000)} s`;
  return {
    row: { test: sync === "full" ? "kill-nine" : `kill-nine (sync ${sync})`, operations: check.operations, lost, unexpected, duplicates, crashes: unexpectedExits.length, pass, note },
    check,
    kills,
    killsByKind,
    unexpectedExits,
  };
}
