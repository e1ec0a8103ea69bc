// Scenario 9: three brokers on one PostgreSQL database (the run's test server, its own schema),
// producers in this process and worker processes spread over them; workers and brokers killed
// with -9 at random (a killed broker restarted with its node id), PostgreSQL restarted once; then
// a drain and the History's verdict. Signals only the processes it starts (and the test server
// through test/helpers/postgres.ts).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SQL, type Subprocess } from "bun";
import { dropSchema, freshSchema, startServer, stopServer, testPostgres } from "../../helpers/postgres.ts";
import type { RawConn } from "../../helpers/raw-conn.ts";
import { launchBroker, reap, type LaunchedBroker } from "./broker-proc.ts";
import { History, type CheckResult, type HolderLease } from "./history.ts";
import { connectRetry, produce, readAll, unfinishedCount, work, type LoadControl } from "./queue-load.ts";
import { drainLines } from "../../../src/bench/stream-lines.ts";
import type { ChaosRow } from "./summary.ts";
import { seededRandom } from "./tier.ts";

const WORKER_CHILD = resolve(import.meta.dir, "cluster-worker-child.ts");
const QUEUE = "chaos";
/** Brokers and workers share this machine's clock: a lease's end is judged this much early only for rounding. */
const SLACK_MS = 50;
/** Retries far above what the kills can use up: a task left dead would read as lost. */
const MAX_RETRIES = 100;
/** StorageUnavailable: after COMMIT was sent it leaves the outcome unknown. */
const AMBIGUOUS = [13];
/** The drain's hard bound. */
export const DRAIN_CAP_MS = 5 * 60_000;
/** broker.queue_depth_threshold of the brokers. */
const QUEUE_DEPTH = 5000;

export interface ClusterChaosParams {
  seed: number;
  /** Chaos phase (the drain comes after). */
  durationMs: number;
  brokers?: number;
  workersPerBroker?: number;
  /** Each task's lease: what brings back a dead broker's tasks, and a held task's. */
  leaseMs?: number;
  /** Fraction of claimed tasks a worker never completes (they come back when the lease ends). */
  holdFraction?: number;
  /** Restart PostgreSQL once, in the middle (skipped against an outside server). */
  restartPostgres?: boolean;
  /** Before the drain, delete one acknowledged task behind the brokers' backs: the verdict must show it lost. */
  sabotage?: boolean;
  progress?: (line: string) => void;
}

export interface ClusterChaosReport {
  row: ChaosRow;
  check: CheckResult;
  brokerKills: number;
  workerKills: number;
  postgresRestarts: number;
  /** Broker exits nobody asked for, and a non-zero exit on the final SIGTERM. */
  unexpectedExits: string[];
  /** The key deleted by the sabotage, if any. */
  sabotaged: string | null;
}

interface Child {
  holder: string;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Resolves once its stdout is read to the end (every event recorded). */
  read: Promise<void>;
}

interface Slot {
  nodeId: string;
  dataDir: string;
  broker: LaunchedBroker | null;
  killedByUs: boolean;
  producer: { control: LoadControl; conn: RawConn; done: Promise<void> } | null;
  children: Set<Child>;
}

export async function runClusterChaos(params: ClusterChaosParams): Promise<ClusterChaosReport> {
  const random = seededRandom(params.seed);
  const pg = await testPostgres();
  const schema = freshSchema("chaos");
  const nBrokers = params.brokers ?? 3;
  const perBroker = params.workersPerBroker ?? 2;
  const leaseMs = params.leaseMs ?? 4000;
  const holdFraction = params.holdFraction ?? 0.02;
  const history = new History();
  const unexpectedExits: string[] = [];
  const startedMs = Date.now();
  const env = (nodeId: string): Record<string, string> => ({
    TQ_PERSISTENCE_BACKEND: "postgres",
    TQ_PERSISTENCE_POSTGRES_URL: pg.url,
    TQ_PERSISTENCE_POSTGRES_SCHEMA: schema,
    TQ_PERSISTENCE_POSTGRES_POOL_SIZE: "4",
    TQ_RAFT_NODE_ID: nodeId,
    // A killed worker's tasks come back soon after its connection closes.
    TQ_BROKER_DISCONNECT_GRACE_SECS: "0.5",
    TQ_BROKER_SHUTDOWN_TIMEOUT_SECS: "10",
    // Producers outrun the workers: backpressure (counted cluster-wide) keeps the backlog, and so
    // the drain, short; its QueueFull answers are definite failures the checker verifies.
    TQ_BROKER_QUEUE_DEPTH_THRESHOLD: String(QUEUE_DEPTH),
  });
  const slots: Slot[] = Array.from({ length: nBrokers }, (_, i) => ({
    nodeId: `chaos-${i}`,
    dataDir: mkdtempSync(join(tmpdir(), "tq-chaos-cluster-")),
    broker: null,
    killedByUs: false,
    producer: null,
    children: new Set(),
  }));
  const allChildren: Child[] = [];
  let holders = 0;
  let brokerKills = 0;
  let workerKills = 0;
  let postgresRestarts = 0;
  let batches = 0;
  let sabotaged: string | null = null;
  let backlog = 0;
  let drainMs = 0;
  let check: CheckResult | null = null;

  const spawnChild = (slot: Slot, port: number): void => {
    const holder = `w${holders++}`;
    const proc = Bun.spawn([process.execPath, WORKER_CHILD, String(port), QUEUE, String(holdFraction), String(1 + Math.floor(random() * 1e9)), String(params.durationMs + 120_000)], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    let claimAt = 0;
    let claimWallMs = 0;
    const ops = new Map<string, ReturnType<History["completeInvoked"]>>();
    const onLine = (line: string): void => {
      const ev = JSON.parse(line) as { e: string; k?: string; id?: string; t?: number; o?: "ok" | "failed" | "unknown"; c?: number; at?: number };
      if (ev.e === "claim") {
        claimAt = history.claimInvoked();
        claimWallMs = ev.at!;
      } else if (ev.e === "del") {
        const lease: HolderLease = { holder, claimWallMs, leaseMs, slackMs: SLACK_MS };
        history.delivered(ev.k!, ev.id!, ev.t!, claimAt, lease, ev.at!);
      } else if (ev.e === "ci") {
        ops.set(`${ev.id}:${ev.t}`, history.completeInvoked(ev.id!, ev.t!));
      } else if (ev.e === "co") {
        const op = ops.get(`${ev.id}:${ev.t}`);
        if (op) history.completeEnded(op, ev.o!, ev.c);
      }
    };
    void drainLines(proc.stderr, () => {});
    const child: Child = { holder, proc, read: drainLines(proc.stdout, onLine).then(() => undefined) };
    // An exit of its own (its broker died): the connection, and so the lease holder, is gone.
    void proc.exited.then(() => {
      history.holderGone(holder);
      slot.children.delete(child);
    });
    slot.children.add(child);
    allChildren.push(child);
  };

  const startSlot = async (slot: Slot): Promise<void> => {
    const broker = launchBroker({ dataDir: slot.dataDir, env: env(slot.nodeId) });
    slot.broker = broker;
    slot.killedByUs = false;
    void broker.exited.then((code) => {
      if (slot.broker === broker && !slot.killedByUs) unexpectedExits.push(`${slot.nodeId}: exit ${code}\n${broker.output().slice(-2000)}`);
    });
    const port = await broker.listening(60_000);
    const conn = await connectRetry(port);
    const control: LoadControl = { stop: false };
    const prefix = `${slot.nodeId}-${Date.now().toString(36)}`;
    const done = produce(conn, history, { queue: QUEUE, prefix, leaseMs, random, control, maxBatches: 1_000_000, maxRetries: MAX_RETRIES, ambiguousCodes: AMBIGUOUS }).finally(() => conn.close());
    slot.producer = { control, conn, done };
    for (let i = 0; i < perBroker; i++) spawnChild(slot, port);
  };

  const killSlot = async (slot: Slot): Promise<void> => {
    const broker = slot.broker!;
    slot.killedByUs = true;
    broker.proc.kill("SIGKILL");
    for (const child of slot.children) history.holderGone(child.holder);
    await broker.exited;
    await slot.producer?.done;
    slot.producer = null;
    brokerKills++;
  };

  const killWorker = async (): Promise<void> => {
    const live = slots.filter((s) => s.broker !== null && s.children.size > 0);
    if (live.length === 0) return;
    const slot = live[Math.floor(random() * live.length)]!;
    const children = [...slot.children];
    const child = children[Math.floor(random() * children.length)]!;
    history.holderGone(child.holder);
    child.proc.kill("SIGKILL");
    await child.proc.exited;
    workerKills++;
    // Its replacement goes to any broker.
    const target = slots[Math.floor(random() * slots.length)]!;
    spawnChild(target, await target.broker!.listening());
  };

  try {
    // The first broker migrates the schema alone; the others find it made.
    await startSlot(slots[0]!);
    await Promise.all(slots.slice(1).map(startSlot));
    const restartAtMs = startedMs + params.durationMs * (0.35 + random() * 0.3);
    let restarted = !(params.restartPostgres ?? true) || !pg.ownServer;
    while (Date.now() - startedMs < params.durationMs) {
      await Bun.sleep(300 + Math.floor(random() * 1200));
      if (!restarted && Date.now() >= restartAtMs) {
        restarted = true;
        await stopServer();
        await Bun.sleep(500 + Math.floor(random() * 1500));
        await startServer();
        postgresRestarts++;
        params.progress?.(`cluster: PostgreSQL restarted (${Math.round((Date.now() - startedMs) / 1000)} s)`);
        continue;
      }
      // The first two faults are one of each kind, so even a run that a loaded machine slows to a
      // few faults kills a broker and a worker; then 35% brokers.
      const faults = brokerKills + workerKills;
      if (faults === 0 || (faults > 1 && random() < 0.35)) {
        const slot = slots[Math.floor(random() * slots.length)]!;
        await killSlot(slot);
        await Bun.sleep(Math.floor(random() * 1000));
        await startSlot(slot);
        params.progress?.(`cluster: ${brokerKills} broker kills, ${workerKills} worker kills (${Math.round((Date.now() - startedMs) / 1000)} s)`);
      } else {
        await killWorker();
      }
    }

    for (const slot of slots) if (slot.producer) slot.producer.control.stop = true;
    await Promise.all(slots.map((s) => s.producer?.done));
    // The workers go too (their held leases with them); fresh ones drain what is left.
    for (const child of allChildren) {
      history.holderGone(child.holder);
      child.proc.kill("SIGKILL");
    }
    await Promise.all(allChildren.map((c) => c.read));
    const ports = await Promise.all(slots.map((s) => s.broker!.listening()));
    const admin = await connectRetry(ports[0]!);
    if (params.sabotage) sabotaged = await deleteOneAcknowledged(admin, history, pg.url, schema, leaseMs);
    const control: LoadControl = { stop: false };
    const drainers = await Promise.all(ports.map((port) => connectRetry(port)));
    const loops = drainers.map((conn, i) =>
      work(conn, history, { queue: QUEUE, random, control, holdFraction: 0, maxClaims: 10_000_000, holder: (claimWallMs) => ({ holder: `drain-${i}`, claimWallMs, leaseMs, slackMs: SLACK_MS }) }),
    );
    // The backlog may be large (producers outrun workers until QueueFull): drain while the count
    // falls; a dead broker's leases end within leaseMs, so no progress for leaseMs + 30 s is a stall.
    const drainStartMs = Date.now();
    backlog = await unfinishedCount(admin, QUEUE);
    let left = backlog;
    let progressMs = Date.now();
    while (left > 0 && Date.now() - progressMs < leaseMs + 30_000 && Date.now() - drainStartMs < DRAIN_CAP_MS) {
      await Bun.sleep(200);
      const now = await unfinishedCount(admin, QUEUE);
      if (now < left) progressMs = Date.now();
      left = now;
    }
    drainMs = Date.now() - drainStartMs;
    control.stop = true;
    await Promise.all(loops);
    check = history.check(await readAll(admin, QUEUE));
    for (const conn of [admin, ...drainers]) conn.close();
    for (const slot of slots) {
      slot.killedByUs = true;
      slot.broker!.proc.kill("SIGTERM");
      const code = await slot.broker!.exited;
      if (code !== 0) unexpectedExits.push(`${slot.nodeId}: exit ${code} on SIGTERM\n${slot.broker!.output().slice(-2000)}`);
    }
  } finally {
    for (const child of allChildren) if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill("SIGKILL");
    for (const slot of slots) {
      slot.killedByUs = true;
      await reap(slot.broker);
      rmSync(slot.dataDir, { recursive: true, force: true });
    }
    await dropSchema(schema).catch(() => {});
  }
  batches = check.submitsOk;
  const lost = check.lostSubmits.length + check.lostCompletions.length + check.vanished.length;
  const unexpected = check.unexpected.length + check.falseFailures.length + check.refusedCompletions.length;
  const duplicates = check.duplicatesBeyondWindow.length + check.deliveredAfterComplete.length;
  const pass = lost === 0 && unexpected === 0 && duplicates === 0 && unexpectedExits.length === 0 && check.submitsOk > 0;
  const note =
    `seed ${params.seed}; ${nBrokers} brokers, ${perBroker} workers each; ${brokerKills} broker kills (each restarted), ${workerKills} worker kills, PostgreSQL restarts ${postgresRestarts}; ` +
    `submits ok ${batches}/unknown ${check.submitsUnknown}/failed ${check.submitsFailed} ${JSON.stringify(check.submitFailureCodes)}; unfinished at the end of the faults ${backlog}, drained in ${Math.round(drainMs / 1000)} s; deliveries ${check.deliveries}; completions ok ${check.completionsOk}; ` +
    `redelivered in window ${check.duplicatesInWindow}; ${Math.round((Date.now() - startedMs) / 1000)} s`;
  return {
    row: { test: params.sabotage ? "cluster (sabotaged: FAIL expected)" : "cluster", operations: check.operations, lost, unexpected, duplicates, crashes: unexpectedExits.length, pass, note },
    check,
    brokerKills,
    workerKills,
    postgresRestarts,
    unexpectedExits,
    sabotaged,
  };
}

/**
 * The checker's own test, end to end: one more acknowledged submit, whose row is then deleted
 * straight in the database, as a store bug would lose it. Returns its key.
 */
async function deleteOneAcknowledged(admin: RawConn, history: History, url: string, schema: string, leaseMs: number): Promise<string> {
  const key = "sabotaged";
  history.submitInvoked(key);
  const r = await admin.call({ kind: "SubmitBatch", tasks: [{ type: "chaos", queue: QUEUE, payload: new TextEncoder().encode(JSON.stringify({ k: key })), payloadIsJson: true, leaseMs, priority: 0, maxRetries: MAX_RETRIES, runAtMs: Date.now() + 60_000 }] });
  if (r.kind !== "SubmittedBatch") throw new Error(`sabotage submit answered ${r.kind}`);
  const id = r.outcomes[0]!.id;
  history.submitOk(key, id);
  const sql = new SQL(url, { max: 1 });
  try {
    await sql.unsafe(`DELETE FROM "${schema}".tasks WHERE id = $1`, [id]);
  } finally {
    await sql.close();
  }
  return key;
}
