// runBench: every requested workload, `runs` times each, against --url or a freshly spawned
// broker per run (so each run's RSS and CPU are its own), and the median with range of each
// figure. Owns the broker's life in --spawn mode; prints nothing (report.ts formats).

import { epochMs } from "./agent-protocol.ts";
import { WORKLOADS, warmupFor, type Backend, type BenchOptions, type Consumer, type SyncMode, type WorkloadName } from "./bench-options.ts";
import { startBenchPostgres, type BenchPostgres } from "./bench-postgres.ts";
import { AgentPool } from "./agent-process.ts";
import { ProcSampler, type ProcUsage } from "./proc-sampler.ts";
import { drainQueue, runWorkload, type CompletionCheck, type Endpoint, type WorkloadRun } from "./run-workload.ts";
import { spawnBroker, type SpawnedBroker } from "./spawn-broker.ts";
import { withDeadline } from "./stream-lines.ts";
import { spread, type Spread } from "./stats.ts";
import { WireConn } from "./wire-conn.ts";

const RESTART_READY_DEADLINE_MS = 120_000;
/** W4's warm-up runs at up to this rate, so its tasks take a second or two rather than warmup / R. */
const WARMUP_W4_RATE = 10_000;
/** W4 sends one task at a time, so its hot paths are compiled after far fewer tasks than the throughput workloads'. */
const WARMUP_W4_MAX = 20_000;

export interface RestartFigures {
  /** Tasks pending when the broker was stopped. */
  pending: number;
  /** Spawn -> "listening" logged. */
  listeningMs: number;
  /** Spawn -> first claim answered with a task: the broker is serving its recovered queue. */
  readyMs: number;
  /** RSS right after recovery, with everything pending loaded. */
  rssMiB: number | null;
}

/**
 * The spawned broker's own group-commit figures (GetStats `commits`) over the timed run: counts
 * without the warm-up's; p50/p99 over the broker's last 8,192 groups, the longest stall over its life.
 */
export interface CommitFigures {
  commits: number;
  ops: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  checkpoints: number;
  checkpointStallMaxMs: number;
  checkpointStallTotalMs: number;
}

export interface RunFigures extends WorkloadRun {
  /** Tasks the warm-up ran on this run's broker before the timed run. */
  warmedUp: number;
  /** The spawned brokers together: the highest peak RSS of one, the sum of their CPU seconds. */
  broker: ProcUsage | null;
  /** --backend postgres: CPU seconds of the PostgreSQL server's processes over the timed run. */
  postgresCpuSecs: number | null;
  commits: CommitFigures | null;
  restart: RestartFigures | null;
}

export interface WorkloadResult {
  workload: WorkloadName;
  description: string;
  sync: SyncMode | null;
  /** Spawned brokers' backend and how many shared it (null with --url). */
  backend: Backend | null;
  brokers: number;
  /** The front door the load went through. */
  front: BenchOptions["front"];
  /** Who consumed W2-W4's tasks: the SDK Worker (default) or the raw claimer (--raw). */
  consumer: Consumer;
  /** The worker's concurrency (raw: claim loops) and, for the SDK Worker, its prefetch ("auto": its adaptive window). */
  concurrency: number;
  prefetch: number | "auto" | null;
  /** Untimed tasks each spawned broker ran first (0 with --url or --warmup 0). */
  warmup: number;
  runs: RunFigures[];
  tasksPerSec: Spread;
  latency: { p50Ms: Spread; p90Ms: Spread; p99Ms: Spread; p999Ms: Spread; maxMs: Spread } | null;
  peakRssMiB: Spread | null;
  cpuSecs: Spread | null;
  /** --backend postgres: the server's CPU seconds over each timed run. */
  postgresCpuSecs: Spread | null;
  /** CPU seconds of the load processes (producers + workers) per run. */
  agentsCpuSecs: Spread;
  /** Operations per group commit and commit duration, medians over runs (spawned broker only). */
  commits: { opsPerCommit: Spread; p50Ms: Spread; p99Ms: Spread; checkpointStallMaxMs: Spread; checkpointStallTotalMs: Spread } | null;
  /** --restart: recovery figures over runs. */
  restart: { pending: number; listeningMs: Spread; readyMs: Spread; rssMiB: Spread } | null;
  /** Every run's tasks completed exactly once (W2/W3); null when the workload does not check. */
  exactlyOnce: boolean | null;
  checks: CompletionCheck[];
}

/** One step of one run, for a live display (the CLI's progress line); the bench works the same without it. */
export interface BenchStage {
  workload: WorkloadName;
  /** 1-based, of `runs`. */
  run: number;
  runs: number;
  /** "warm-up" and "drain" (W1's tasks completed after the run) are untimed. */
  phase: "starting broker" | "warm-up" | "timed" | "drain" | "restart";
  /** Tasks the step goes through, or null when it has none (starting, restarting). */
  target: number | null;
  /** Tasks submitted and completed so far by this step's load processes. */
  counts(): { submitted: number; completed: number };
}

export interface BenchHooks {
  /** A run finished, with its figures. */
  onRun?(result: RunFigures, index: number): void;
  /** A step began. */
  onStage?(stage: BenchStage): void;
}

/** Tells `hooks` that a step of this run began; counts come from the run's agent pool. */
type StageReporter = (phase: BenchStage["phase"], target: number | null, pool: AgentPool | null) => void;

export async function runBench(opts: BenchOptions, hooks: BenchHooks = {}): Promise<WorkloadResult[]> {
  const results: WorkloadResult[] = [];
  const runTag = Math.floor(epochMs()).toString(36);
  const postgres = opts.target.kind === "spawn" && opts.target.backend === "postgres" ? await startBenchPostgres() : null;
  try {
    await runAll(opts, hooks, runTag, postgres, results);
  } finally {
    await postgres?.stop();
  }
  return results;
}

async function runAll(opts: BenchOptions, hooks: BenchHooks, runTag: string, postgres: BenchPostgres | null, results: WorkloadResult[]): Promise<void> {
  for (const workload of opts.workloads) {
    const runs: RunFigures[] = [];
    for (let i = 0; i < opts.runs; i++) {
      const queue = `bench-${runTag}-${workload.toLowerCase()}-${i}`;
      const stage: StageReporter = (phase, target, pool) => {
        const sinceMs = performance.now();
        hooks.onStage?.({ workload, run: i + 1, runs: opts.runs, phase, target, counts: () => pool?.progress(sinceMs) ?? { submitted: 0, completed: 0 } });
      };
      const run = opts.target.kind === "spawn" ? await spawnedRun(workload, opts, opts.target.sync, queue, stage, postgres) : await urlRun(workload, opts, queue, stage);
      runs.push(run);
      hooks.onRun?.(run, i);
    }
    results.push(summarize(workload, opts, runs));
  }
}

async function urlRun(workload: WorkloadName, opts: BenchOptions, queue: string, stage: StageReporter): Promise<RunFigures> {
  if (opts.target.kind !== "url") throw new Error("urlRun needs a --url target");
  const at: Endpoint = { host: opts.target.host, port: opts.target.port, queue };
  const pool = new AgentPool();
  try {
    stage("timed", timedTarget(workload, opts), pool);
    const run = await runWorkload(workload, opts, at, pool);
    if (workload === "W1") {
      stage("drain", run.tasks, pool);
      await drainQueue(opts, at, run.tasks, pool);
    }
    return { ...run, warmedUp: 0, broker: null, postgresCpuSecs: null, commits: null, restart: null };
  } finally {
    await pool.close();
  }
}

/**
 * Config of broker `index` of a run on the bench's PostgreSQL server: the run's own schema (a
 * fresh queue table per run, as a fresh SQLite file is), its own node id, synchronous_commit on.
 */
function postgresEnv(postgres: BenchPostgres, queue: string, index: number): Record<string, string> {
  return {
    TQ_PERSISTENCE_BACKEND: "postgres",
    TQ_PERSISTENCE_POSTGRES_URL: postgres.url,
    TQ_PERSISTENCE_POSTGRES_SCHEMA: queue.replaceAll("-", "_"),
    TQ_PERSISTENCE_POSTGRES_SYNCHRONOUS_COMMIT: "true",
    TQ_RAFT_NODE_ID: `bench-${index}`,
  };
}

/** The run's brokers: one, or with --brokers B several on one database (the first makes the schema, then the rest start). */
async function spawnBrokers(options: Parameters<typeof spawnBroker>[0], count: number, postgres: BenchPostgres | null, queue: string): Promise<SpawnedBroker[]> {
  if (postgres === null) return [await spawnBroker(options)];
  const first = await spawnBroker({ ...options, env: postgresEnv(postgres, queue, 0) });
  const started = [first];
  try {
    for (const b of await Promise.all(Array.from({ length: count - 1 }, (_, i) => spawnBroker({ ...options, env: postgresEnv(postgres, queue, i + 1) })))) started.push(b);
  } catch (err) {
    await Promise.all(started.map((b) => b.stop()));
    throw err;
  }
  return started;
}

async function spawnedRun(workload: WorkloadName, opts: BenchOptions, sync: SyncMode, queue: string, stage: StageReporter, postgres: BenchPostgres | null): Promise<RunFigures> {
  const warmup = warmupFor(workload, opts.warmup);
  const brokerOptions = {
    sync,
    // The bench loads N tasks at once; the default threshold would answer QueueFull at 100,000.
    queueDepthThreshold: opts.n + 100_000,
    // The raw claimer claims B at a time; the SDK Worker's subscription is not bounded by
    // max_batch_claim, so its broker keeps the default, as a deployment's does.
    maxBatchClaim: opts.consumer === "raw" ? Math.max(10, opts.batch) : null,
    runtimeArgs: opts.cpuProfDir === null ? [] : ["--cpu-prof-md", "--cpu-prof-dir", opts.cpuProfDir],
    grpc: opts.front === "grpc",
  };
  stage("starting broker", null, null);
  const count = opts.target.kind === "spawn" ? opts.target.brokers : 1;
  const brokers = await spawnBrokers(brokerOptions, count, postgres, queue);
  let broker: SpawnedBroker = brokers[0]!;
  const several = brokers.length > 1 ? { brokers: brokers.map((b) => ({ host: b.host, port: b.port })) } : {};
  // The warm-up's agents run the timed load too: a producer in service is as warm as its broker.
  const pool = new AgentPool();
  try {
    if (warmup > 0) stage("warm-up", workload === "W4" ? Math.min(warmup, WARMUP_W4_MAX) : warmup, pool);
    const front = opts.front === "grpc" ? { grpcPort: broker.grpcPort } : {};
    const warmedUp = warmup > 0 ? await warmUp(workload, opts, warmup, { host: broker.host, port: broker.port, queue: `${queue}-warmup`, ...front, ...several }, pool) : 0;
    const before = await commitFigures(broker);
    const samplers = brokers.map((b) => new ProcSampler(b.pid));
    for (const sampler of samplers) sampler.start();
    const postgresBefore = postgres?.cpuSecs() ?? null;
    stage("timed", timedTarget(workload, opts), pool);
    const run = await runWorkload(workload, opts, { host: broker.host, port: broker.port, queue, ...front, ...several }, pool).finally(() => {
      for (const sampler of samplers) sampler.stop();
    });
    const postgresCpuSecs = postgres === null || postgresBefore === null ? null : postgres.cpuSecs() - postgresBefore;
    const usage = combined(samplers.map((s) => s.stop()));
    const commits = since(await commitFigures(broker), before);
    let restart: RestartFigures | null = null;
    if (opts.restart && workload === "W1") {
      stage("restart", null, null);
      await broker.stop({ keepData: true });
      const t0 = performance.now();
      broker = await spawnBroker({ ...brokerOptions, dataDir: broker.dataDir });
      const readyMs = await withDeadline(firstClaim(broker, queue, t0), RESTART_READY_DEADLINE_MS, "the restarted broker did not hand out a task");
      restart = { pending: run.tasks, listeningMs: broker.startMs, readyMs, rssMiB: new ProcSampler(broker.pid).rssMiB() };
    }
    return { ...run, warmedUp, broker: usage, postgresCpuSecs, commits, restart };
  } finally {
    await pool.close();
    await Promise.all([broker, ...brokers.slice(1)].map((b) => b.stop()));
  }
}

/** Several brokers' usage as one: the highest peak RSS, the sum of CPU seconds. */
function combined(usages: readonly ProcUsage[]): ProcUsage {
  if (usages.length === 1) return usages[0]!;
  const peaks = usages.map((u) => u.peakRssMiB);
  const cpus = usages.map((u) => u.cpuSecs);
  return {
    peakRssMiB: peaks.some((p) => p === null) ? null : Math.max(...(peaks as number[])),
    cpuSecs: cpus.some((c) => c === null) ? null : (cpus as number[]).reduce((a, b) => a + b, 0),
  };
}

/** Tasks a timed run of `workload` goes through: N, or W4's rate x seconds. */
function timedTarget(workload: WorkloadName, opts: BenchOptions): number {
  return workload === "W4" ? Math.max(1, Math.round(opts.ratePerSec * opts.seconds)) : opts.n;
}

/**
 * Untimed, on the broker the timed run will use: the same workload with `warmup` tasks, so that
 * run meets the broker's hot paths compiled, as a broker in service has them, rather than a JIT
 * still at work (measured: W1 on fresh brokers ran at 54-73% of a warmed one). W1's tasks are
 * drained after, so the timed run and --restart see only their own.
 */
export async function warmUp(workload: WorkloadName, opts: BenchOptions, warmup: number, at: Endpoint, pool: AgentPool): Promise<number> {
  const w4Tasks = Math.min(warmup, WARMUP_W4_MAX);
  const seconds = Math.max(1, Math.ceil(w4Tasks / WARMUP_W4_RATE));
  const warm = workload === "W4" ? { ...opts, ratePerSec: Math.ceil(w4Tasks / seconds), seconds } : { ...opts, n: warmup };
  const run = await runWorkload(workload, warm, at, pool);
  if (workload === "W1") await drainQueue(warm, at, run.tasks, pool);
  const errors = Object.entries(run.errors);
  if (run.check?.exactlyOnce === false || errors.length > 0) {
    throw new Error(`the ${workload} warm-up did not run clean (${errors.map(([name, n]) => `${name} x${n}`).join(", ") || "exactly-once check failed"})`);
  }
  return run.tasks;
}

/** The counters of `after` less those of `before` (the warm-up); durations stay as the broker reports them. */
function since(after: CommitFigures | null, before: CommitFigures | null): CommitFigures | null {
  if (after === null || before === null) return after;
  return {
    ...after,
    commits: after.commits - before.commits,
    ops: after.ops - before.ops,
    checkpoints: after.checkpoints - before.checkpoints,
    checkpointStallTotalMs: after.checkpointStallTotalMs - before.checkpointStallTotalMs,
  };
}

/** The broker's group-commit statistics, or null when it does not report them. */
async function commitFigures(broker: SpawnedBroker): Promise<CommitFigures | null> {
  const conn = await WireConn.open(broker.host, broker.port);
  try {
    const r = await conn.send({ kind: "GetStats" });
    if (r.kind !== "Stats") return null;
    const commits = (JSON.parse(r.json) as { commits?: CommitFigures }).commits;
    return commits !== undefined && typeof commits.commits === "number" ? commits : null;
  } finally {
    conn.close();
  }
}

/** ms from t0 until a claim on the recovered queue returns a task. */
async function firstClaim(broker: SpawnedBroker, queue: string, t0: number): Promise<number> {
  const conn = await WireConn.open(broker.host, broker.port);
  try {
    const r = await conn.send({ kind: "ClaimTask", queues: [queue], max: 1, waitMs: RESTART_READY_DEADLINE_MS });
    if (r.kind !== "Claimed" || r.tasks.length === 0) throw new Error(`the restarted broker answered ${r.kind === "Error" ? r.message : r.kind}`);
    return performance.now() - t0;
  } finally {
    conn.close();
  }
}

function summarize(workload: WorkloadName, opts: BenchOptions, runs: RunFigures[]): WorkloadResult {
  const usages = runs.map((r) => r.broker).filter((u): u is ProcUsage => u !== null);
  const latencies = runs.map((r) => r.latency).filter((l) => l !== null);
  const checks = runs.map((r) => r.check).filter((c): c is CompletionCheck => c !== null);
  return {
    workload,
    description: WORKLOADS[workload],
    sync: opts.target.kind === "spawn" ? opts.target.sync : null,
    backend: opts.target.kind === "spawn" ? opts.target.backend : null,
    brokers: opts.target.kind === "spawn" ? opts.target.brokers : 1,
    front: opts.front,
    consumer: opts.consumer,
    concurrency: opts.concurrency,
    prefetch: opts.consumer === "sdk" ? (opts.prefetch ?? "auto") : null,
    warmup: opts.target.kind === "spawn" ? warmupFor(workload, opts.warmup) : 0,
    runs,
    tasksPerSec: spread(runs.map((r) => r.tasksPerSec)),
    latency:
      latencies.length === 0
        ? null
        : {
            p50Ms: spread(latencies.map((l) => l.p50Ms)),
            p90Ms: spread(latencies.map((l) => l.p90Ms)),
            p99Ms: spread(latencies.map((l) => l.p99Ms)),
            p999Ms: spread(latencies.map((l) => l.p999Ms)),
            maxMs: spread(latencies.map((l) => l.maxMs)),
          },
    peakRssMiB: usages.length === 0 ? null : spread(usages.map((u) => u.peakRssMiB ?? Number.NaN)),
    cpuSecs: usages.length === 0 ? null : spread(usages.map((u) => u.cpuSecs ?? Number.NaN)),
    postgresCpuSecs: runs.some((r) => r.postgresCpuSecs !== null) ? spread(runs.map((r) => r.postgresCpuSecs ?? Number.NaN)) : null,
    agentsCpuSecs: spread(runs.map((r) => r.agentsCpuSecs)),
    commits: commitSpread(runs),
    restart: restartSpread(runs),
    exactlyOnce: checks.length === 0 ? null : checks.every((c) => c.exactlyOnce),
    checks,
  };
}

function commitSpread(runs: readonly RunFigures[]): WorkloadResult["commits"] {
  const all = runs.map((r) => r.commits).filter((c): c is CommitFigures => c !== null && c.commits > 0);
  if (all.length === 0) return null;
  return {
    opsPerCommit: spread(all.map((c) => c.ops / c.commits)),
    p50Ms: spread(all.map((c) => c.p50Ms)),
    p99Ms: spread(all.map((c) => c.p99Ms)),
    checkpointStallMaxMs: spread(all.map((c) => c.checkpointStallMaxMs)),
    checkpointStallTotalMs: spread(all.map((c) => c.checkpointStallTotalMs)),
  };
}

function restartSpread(runs: readonly RunFigures[]): WorkloadResult["restart"] {
  const all = runs.map((r) => r.restart).filter((x): x is RestartFigures => x !== null);
  if (all.length === 0) return null;
  return {
    pending: all[0]!.pending,
    listeningMs: spread(all.map((x) => x.listeningMs)),
    readyMs: spread(all.map((x) => x.readyMs)),
    rssMiB: spread(all.map((x) => x.rssMiB ?? Number.NaN)),
  };
}
