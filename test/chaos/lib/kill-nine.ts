// Scenario 1: SIGKILL the real broker under load again and again on one data dir, then drain and
// check the history. Kills rotate between moments picked from outside and the broker's own named
// kill points (TQ_TEST_KILL_AT); signals only the brokers it starts. See guarantees.md.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RawConn } from "../../helpers/raw-conn.ts";
import { LISTENING_LOG, launchBroker, reap, type LaunchedBroker } from "./broker-proc.ts";
import { History, type CheckResult } from "./history.ts";
import { connectRetry, drainAndCheck, produce, sendStaleResults, work, type LoadControl, type StaleResults } from "./queue-load.ts";
import type { ChaosRow } from "./summary.ts";
import { seededRandom } from "./tier.ts";

/**
 * The rotation, in order. `recovery` follows a round with load, so the incarnation it kills at
 * open inherits tasks whose workers held leases when the broker died.
 */
export const KILL_KINDS = ["random", "recovery", "after-commit", "startup", "after-acks", "after-sync", "after-completions", "compaction"] as const;
export type KillKind = (typeof KILL_KINDS)[number];

/** Kinds where the broker kills itself at a point of src/store/sqlite/kill-points.ts. */
export const NAMED_KINDS = ["after-commit", "after-sync", "recovery", "compaction"] as const satisfies readonly KillKind[];
type NamedKind = (typeof NAMED_KINDS)[number];

function isNamed(kind: KillKind): kind is NamedKind {
  return (NAMED_KINDS as readonly string[]).includes(kind);
}

/** The rotation for a sync mode: with sync interval no fsync runs per group, so after-sync is never reached. */
export function killRotation(sync: "full" | "interval"): readonly KillKind[] {
  return sync === "full" ? KILL_KINDS : KILL_KINDS.filter((k) => k !== "after-sync");
}

/** Inclusive ranges of n in TQ_TEST_KILL_AT=<point>:<n>: how often the point is passed before the kill. */
export interface Passages {
  /** Group commits (after-commit) or WAL syncs (after-sync). */
  commitOrSync: readonly [number, number];
  /** Retention deletes or incremental-vacuum steps. */
  compaction: readonly [number, number];
}

export const DEFAULT_PASSAGES: Passages = { commitOrSync: [20, 400], compaction: [1, 20] };
/** The short tier's: small enough that a named round lasts about as long as a kill from outside. */
export const SHORT_PASSAGES: Passages = { commitOrSync: [3, 60], compaction: [1, 6] };

function nthPassage(kind: NamedKind, passages: Passages, random: () => number): number {
  if (kind === "recovery") return 1; // reached once per start
  const [min, max] = kind === "compaction" ? passages.compaction : passages.commitOrSync;
  return min + Math.floor(random() * (max - min + 1));
}

/**
 * How long a named incarnation may take to reach its point before it is killed from outside (and
 * counted as a fallback): far above the usual second or two, so only a point that is never
 * reached (a bug in the seam or a stalled broker) gets there.
 */
const NAMED_WAIT_MS = 20_000;
/** Stale results sent per load round (those of unacknowledged submits first). */
const STALE_PER_ROUND = 40;

export interface KillNineParams {
  kills: number;
  /** Stop killing once this much time has gone (the drain still runs). */
  budgetMs: number;
  seed: number;
  producers?: number;
  workers?: number;
  /** persistence.sync of every incarnation (default full); both must survive a process crash. */
  sync?: "full" | "interval";
  /** n of the named kills (default DEFAULT_PASSAGES); smaller ranges make shorter rounds. */
  passages?: Passages;
  /** Called after each kill, for progress output in long runs. */
  progress?: (done: number, kind: KillKind) => void;
}

export interface KillNineReport {
  row: ChaosRow;
  check: CheckResult;
  kills: number;
  killsByKind: Record<KillKind, number>;
  /** Named kills where the broker killed itself at its point (exit by SIGKILL, none sent from here). */
  seamKills: Record<NamedKind, number>;
  /** Named kills whose point was not reached in NAMED_WAIT_MS, so the supervisor killed from outside. */
  outsideFallbacks: string[];
  /** Leases held by workers when the incarnation before each recovery kill died, summed. */
  heldBeforeRecovery: number;
  /** Results sent with dead leases at the start of each load round; all must get LeaseLost. */
  staleResults: StaleResults;
  /** How many of those were for tasks whose submit was never acknowledged. */
  staleOfUnackedSubmits: number;
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

/** True if the broker exited within `timeoutMs`. */
async function exitsWithin(broker: LaunchedBroker, timeoutMs: number): Promise<boolean> {
  let exited = false;
  void broker.exited.then(() => (exited = true));
  await waitFor(() => exited, timeoutMs);
  return exited;
}

/**
 * The load's connections, or none when a named point killed the broker before they were all made:
 * retention commits even while idle, so a small n can come before the load connects.
 */
async function connectLoad(broker: LaunchedBroker, count: number, named: boolean): Promise<RawConn[]> {
  const made: RawConn[] = [];
  try {
    const port = await broker.listening();
    const settled = await Promise.allSettled(Array.from({ length: count }, () => connectRetry(port)));
    for (const r of settled) if (r.status === "fulfilled") made.push(r.value);
    const failed = settled.find((r) => r.status === "rejected");
    if (failed === undefined) return made;
    throw failed.reason;
  } catch (err) {
    for (const conn of made) conn.close();
    if (named && (await exitsWithin(broker, 2000))) return [];
    throw err;
  }
}

/** " (code 11 x12, ...)" for the note, or nothing when no submit failed. */
function failureCodes(byCode: Record<string, number>): string {
  const parts = Object.entries(byCode).map(([code, n]) => `code ${code} x${n}`);
  return parts.length === 0 ? "" : ` (${parts.join(", ")})`;
}

export async function runKillNine(params: KillNineParams): Promise<KillNineReport> {
  const random = seededRandom(params.seed);
  const sync = params.sync ?? "full";
  const rotation = killRotation(sync);
  const BROKER_ENV = { ...BASE_ENV, TQ_PERSISTENCE_SYNC: sync };
  const dataDir = mkdtempSync(join(tmpdir(), "tq-chaos-kill-"));
  const history = new History();
  const killsByKind = Object.fromEntries(KILL_KINDS.map((k) => [k, 0])) as Record<KillKind, number>;
  const seamKills = Object.fromEntries(NAMED_KINDS.map((k) => [k, 0])) as Record<NamedKind, number>;
  const outsideFallbacks: string[] = [];
  const unexpectedExits: string[] = [];
  const startedMs = Date.now();
  let kills = 0;
  let heldBeforeRecovery = 0;
  const staleResults: StaleResults = { sent: 0, leaseLost: 0, other: [] };
  let staleOfUnackedSubmits = 0;
  /** Leases the last load round's workers still held when it died; probed by the next load round. */
  let deadLeases: { key: string; id: string; token: number }[] = [];
  let broker: LaunchedBroker | null = null;
  const nProducers = params.producers ?? 3;
  const nWorkers = params.workers ?? 3;
  let check: CheckResult | null = null;

  /** After a named incarnation ended: did the seam kill it, and nothing else? */
  const judgeNamed = (round: number, kind: NamedKind, spec: string, target: LaunchedBroker, killedFromOutside: boolean, code: number): void => {
    if (killedFromOutside) outsideFallbacks.push(`round ${round}: ${spec} not reached in ${NAMED_WAIT_MS} ms`);
    else if (target.proc.signalCode === "SIGKILL") seamKills[kind]++;
    else unexpectedExits.push(`round ${round} (${spec}): exit ${code}\n${target.output().slice(-2000)}`);
  };

  try {
    for (let round = 0; kills < params.kills && Date.now() - startedMs < params.budgetMs; round++) {
      const kind = rotation[round % rotation.length]!;
      const spec = isNamed(kind) ? `${kind}:${nthPassage(kind, params.passages ?? DEFAULT_PASSAGES, random)}` : null;
      broker = launchBroker({ dataDir, env: spec === null ? BROKER_ENV : { ...BROKER_ENV, TQ_TEST_KILL_AT: spec } });
      const target = broker;
      let killed = false;
      const kill = (): void => {
        if (killed) return;
        killed = true;
        target.proc.kill("SIGKILL");
      };

      if (kind === "startup" || kind === "recovery") {
        if (kind === "startup") {
          await Bun.sleep(5 + Math.floor(random() * 250));
          kill();
        } else {
          // Workers held leases when the last incarnation died: those tasks are what it puts back.
          heldBeforeRecovery += history.unfinishedDeliveries(history.incarnation - 1);
          if (!(await exitsWithin(target, NAMED_WAIT_MS))) kill();
        }
        const code = await target.exited;
        if (kind === "recovery" && spec !== null) {
          judgeNamed(round, kind, spec, target, killed, code);
          if (LISTENING_LOG.test(target.output())) unexpectedExits.push(`round ${round} (${spec}): listened before the recovery point`);
        }
        history.crash();
        kills++;
        killsByKind[kind]++;
        params.progress?.(kills, kind);
        continue;
      }

      const conns = await connectLoad(target, nProducers + nWorkers, spec !== null);
      const probe = [...deadLeases.filter((l) => !history.acknowledged(l.key)), ...deadLeases.filter((l) => history.acknowledged(l.key))].slice(0, STALE_PER_ROUND);
      const sentBefore = staleResults.sent;
      if (conns[0] !== undefined) {
        deadLeases = [];
        await sendStaleResults(conns[0], probe, staleResults);
      }
      // In order, so the answered ones are a prefix (a named kill may cut the probe short).
      staleOfUnackedSubmits += probe.slice(0, staleResults.sent - sentBefore).filter((l) => !history.acknowledged(l.key)).length;
      const control: LoadControl = { stop: false };
      const incarnation = history.incarnation;
      const loops = [
        ...conns.slice(0, nProducers).map((conn, p) =>
          produce(conn, history, { queue: QUEUE, prefix: `r${round}p${p}`, leaseMs: LEASE_MS, random, control, maxBatches: 100_000 }),
        ),
        ...conns.slice(nProducers).map((conn) => work(conn, history, { queue: QUEUE, random, control, holdFraction: 0.1, maxClaims: 100_000 })),
      ];
      if (kind === "random") {
        await Bun.sleep(50 + Math.floor(random() * 350));
        kill();
      } else if (kind === "after-acks" || kind === "after-completions") {
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
      } else if (!(await exitsWithin(target, NAMED_WAIT_MS))) {
        kill();
      }
      const code = await target.exited;
      if (spec !== null && isNamed(kind)) judgeNamed(round, kind, spec, target, killed, code);
      else if (target.proc.signalCode !== "SIGKILL") unexpectedExits.push(`round ${round}: exit ${code}\n${target.output().slice(-2000)}`);
      if (history.incarnation === incarnation) history.crash();
      control.stop = true;
      await Promise.all(loops);
      deadLeases = history.unfinishedLeases(incarnation);
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
  const lost = check.lostSubmits.length + check.lostCompletions.length + check.vanished.length;
  // Leases outlast the run and results never reach a later incarnation: no refusal is legitimate.
  const unexpected = check.unexpected.length + check.falseFailures.length + check.refusedCompletions.length + staleResults.other.length;
  const duplicates = check.duplicatesBeyondWindow.length + check.deliveredAfterComplete.length;
  const pass = lost === 0 && unexpected === 0 && duplicates === 0 && unexpectedExits.length === 0 && check.submitsOk > 0;
  const byKind = rotation.map((k) => (isNamed(k) ? `${k} ${killsByKind[k]} (seam ${seamKills[k]})` : `${k} ${killsByKind[k]}`)).join(", ");
  const note =
    `seed ${params.seed}; ${kills} kills (${byKind}); outside fallbacks ${outsideFallbacks.length}; leases held before recovery kills ${heldBeforeRecovery}; ` +
    `stale results ${staleResults.sent} (${staleOfUnackedSubmits} of unacknowledged submits), LeaseLost ${staleResults.leaseLost}; ` +
    `submits ok ${check.submitsOk}/unknown ${check.submitsUnknown}/failed ${check.submitsFailed}${failureCodes(check.submitFailureCodes)}; ` +
    `deliveries ${check.deliveries} (${check.deliveredUnacked} of unacknowledged submits, ${check.deliveredBeforeSubmitReply} before the crash that cut the submit's reply); completions ok ${check.completionsOk}; redelivered in window ${check.duplicatesInWindow}; ` +
    `${Math.round((Date.now() - startedMs) / 1000)} s`;
  return {
    row: { test: sync === "full" ? "kill-nine" : `kill-nine (sync ${sync})`, operations: check.operations, lost, unexpected, duplicates, crashes: unexpectedExits.length, pass, note },
    check,
    kills,
    killsByKind,
    seamKills,
    outsideFallbacks,
    heldBeforeRecovery,
    staleResults,
    staleOfUnackedSubmits,
    unexpectedExits,
  };
}
