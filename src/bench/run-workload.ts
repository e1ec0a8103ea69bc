// runWorkload: one run of one workload (W1-W4) against a broker at host:port, with the load in
// agent processes. Starts the clock only when every agent is connected, stops workers once all
// tasks are done, and checks by id that each submitted task was completed exactly once.
// Does not start or sample the broker (run-bench.ts does).

import type { AgentSpec, ErrorCounts, ProducerReport, WorkerReport, WorkerSpec } from "./agent-protocol.ts";
import type { AgentJob, AgentPool } from "./agent-process.ts";
import type { BenchOptions, WorkloadName } from "./bench-options.ts";
import { summarizeLatencies, type LatencySummary } from "./stats.ts";

const POLL_MS = 20;
/** Blocking-claim wait of the workers: short, so a stop takes effect quickly. */
const WORKER_WAIT_MS = 250;

export interface CompletionCheck {
  submitted: number;
  completed: number;
  /** Completions acknowledged twice for one id. */
  duplicates: number;
  /** Submitted ids never completed. */
  missing: number;
  /** Completed ids that no producer of this run submitted. */
  unknown: number;
  exactlyOnce: boolean;
}

export interface WorkloadRun {
  workload: WorkloadName;
  tasks: number;
  elapsedSecs: number;
  tasksPerSec: number;
  latency: LatencySummary | null;
  check: CompletionCheck | null;
  errors: ErrorCounts;
  /** CPU seconds the timed agents (producers + workers) used over their jobs of this run. */
  agentsCpuSecs: number;
  /** Every agent of this run had run a job before (the warm-up's): the load side was warm too. */
  agentsWarm: boolean;
}

export interface Endpoint {
  host: string;
  port: number;
  /** Set: producers and workers go through the gRPC front door on this port (W1-W3). */
  grpcPort?: number;
  /** Unique per run, so runs never see each other's tasks on a shared broker. */
  queue: string;
  /**
   * Several brokers on one database (bench --brokers): every broker's address, this one first.
   * Producers go round-robin over them, and the worker's lanes are split into one worker process
   * per broker; W4's producer submits on the first and its worker claims on the last.
   */
  brokers?: readonly { host: string; port: number }[];
}

/** The address of broker `i` (round-robin) of the endpoint. */
function brokerAt(at: Endpoint, i: number): { host: string; port: number } {
  const all = at.brokers ?? [];
  return all.length === 0 ? { host: at.host, port: at.port } : all[i % all.length]!;
}

function deadlineMsFor(n: number): number {
  return 120_000 + n;
}

function split(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < total % parts ? 1 : 0)).filter((k) => k > 0);
}

function mergeErrors(into: ErrorCounts, from: ErrorCounts): void {
  for (const [name, count] of Object.entries(from)) into[name] = (into[name] ?? 0) + count;
}

/** An agent's job in a run: which pool slot runs it, and the spec. */
type Placement = readonly [slot: string, spec: AgentSpec];

/** Hands each agent its job, waits until each is connected (or one failed), then says go to all. */
async function startAll(pool: AgentPool, placements: readonly Placement[]): Promise<AgentJob[]> {
  const jobs = placements.map(([slot, spec]) => pool.agent(slot).start(spec));
  await Promise.all(jobs.map((j) => j.ready));
  for (const j of jobs) j.go();
  return jobs;
}

/**
 * Polls worker progress until every task the producers got acknowledged is done (`target` until
 * all producers have reported), an agent fails or the deadline passes; then says stop.
 */
async function stopWhenDone(workers: readonly AgentJob[], target: number, deadlineMs: number, producers: readonly AgentJob[]): Promise<void> {
  let failed: unknown = null;
  for (const a of [...workers, ...producers]) a.report.catch((err: unknown) => (failed ??= err));
  let acknowledged: number | null = null;
  if (producers.length > 0) {
    void Promise.all(producers.map((p) => p.report)).then(
      (done) => (acknowledged = (done as ProducerReport[]).reduce((sum, r) => sum + r.submitted, 0)),
      () => {},
    );
  }
  const startMs = performance.now();
  while (failed === null && performance.now() - startMs < deadlineMs) {
    if (workers.reduce((sum, w) => sum + w.progress, 0) >= (acknowledged ?? target)) break;
    await Bun.sleep(POLL_MS);
  }
  for (const w of workers) w.stop();
  if (failed !== null) throw failed;
}

async function reports<T>(agents: readonly AgentJob[]): Promise<T[]> {
  return (await Promise.all(agents.map((a) => a.report))) as T[];
}

function check(producers: readonly ProducerReport[], workers: readonly WorkerReport[]): CompletionCheck {
  const submitted = new Set<string>();
  for (const p of producers) for (const id of p.ids) submitted.add(id);
  const seen = new Set<string>();
  let duplicates = 0;
  let unknown = 0;
  let completed = 0;
  for (const w of workers) {
    for (const id of w.ids) {
      completed++;
      if (seen.has(id)) duplicates++;
      else seen.add(id);
      if (!submitted.has(id)) unknown++;
    }
  }
  let missing = 0;
  for (const id of submitted) if (!seen.has(id)) missing++;
  return { submitted: submitted.size, completed, duplicates, missing, unknown, exactlyOnce: duplicates === 0 && missing === 0 && unknown === 0 };
}

function producerSpecs(opts: BenchOptions, at: Endpoint, n: number, recordIds: boolean): Placement[] {
  return split(n, opts.producers).map((k, i) => [
    `producer-${i}`,
    {
      role: "producer",
      ...brokerAt(at, i),
      queue: at.queue,
      n: k,
      payloadBytes: opts.payloadBytes,
      batch: opts.batch,
      window: opts.window,
      recordIds,
      deadlineMs: deadlineMsFor(n),
      ...(at.grpcPort === undefined ? {} : { grpcPort: at.grpcPort }),
    },
  ]);
}

/** One worker process per broker of the endpoint, the concurrency split over them. */
function workerSpecs(opts: BenchOptions, at: Endpoint, n: number, latency: boolean, preloaded: boolean): (readonly [string, WorkerSpec])[] {
  const brokers = Math.max(1, at.brokers?.length ?? 1);
  return split(opts.concurrency, brokers).map((lanes, i) => workerSpec(opts, at, n, latency, preloaded, i, lanes));
}

function workerSpec(opts: BenchOptions, at: Endpoint, n: number, latency: boolean, preloaded: boolean, index = 0, lanes = opts.concurrency): readonly [string, WorkerSpec] {
  return [
    `worker-${index}`,
    {
      role: "worker",
      consumer: opts.consumer,
      ...brokerAt(at, index),
      queue: at.queue,
      lanes,
      prefetch: opts.prefetch,
      batch: opts.batch,
      waitMs: WORKER_WAIT_MS,
      preloaded,
      recordIds: !latency,
      recordLatency: latency,
      deadlineMs: deadlineMsFor(n),
      ...(at.grpcPort === undefined ? {} : { grpcPort: at.grpcPort }),
    },
  ];
}

/** One run with the pool's agents (started as needed); on a failure the pool's agents are killed. */
export async function runWorkload(name: WorkloadName, opts: BenchOptions, at: Endpoint, pool: AgentPool): Promise<WorkloadRun> {
  try {
    return await runAgents(name, opts, at, pool);
  } catch (err) {
    // One agent failed: the others must not go on loading the broker.
    await pool.kill();
    throw err;
  }
}

async function runAgents(name: WorkloadName, opts: BenchOptions, at: Endpoint, pool: AgentPool): Promise<WorkloadRun> {
  const errors: ErrorCounts = {};
  if (name === "W1") {
    const producers = await reports<ProducerReport>(await startAll(pool, producerSpecs(opts, at, opts.n, false)));
    for (const p of producers) mergeErrors(errors, p.errors);
    const tasks = producers.reduce((s, p) => s + p.submitted, 0);
    const elapsedSecs = (Math.max(...producers.map((p) => p.lastAckMs)) - Math.min(...producers.map((p) => p.firstSendMs))) / 1000;
    return { workload: name, tasks, elapsedSecs, tasksPerSec: tasks / elapsedSecs, latency: null, check: null, errors, ...loadOf(producers) };
  }
  if (name === "W2") {
    // Pre-enqueue, untimed, with the same producers W1 uses.
    const preload = await reports<ProducerReport>(await startAll(pool, producerSpecs(opts, at, opts.n, true)));
    for (const p of preload) mergeErrors(errors, p.errors);
    const workers = await startAll(pool, workerSpecs(opts, at, opts.n, false, true));
    const target = preload.reduce((s, p) => s + p.submitted, 0);
    await stopWhenDone(workers, target, deadlineMsFor(opts.n), []);
    const done = await reports<WorkerReport>(workers);
    return finishThroughput(name, done, errors, check(preload, done), Math.min(...done.map((w) => w.firstClaimMs)), loadOf(done));
  }
  if (name === "W3") {
    const workers = workerSpecs(opts, at, opts.n, false, false);
    const agents = await startAll(pool, [...workers, ...producerSpecs(opts, at, opts.n, true)]);
    const workerAgents = agents.slice(0, workers.length);
    const producerAgents = agents.slice(workers.length);
    await stopWhenDone(workerAgents, opts.n, deadlineMsFor(opts.n), producerAgents);
    const produced = await reports<ProducerReport>(producerAgents);
    const done = await reports<WorkerReport>(workerAgents);
    for (const p of produced) mergeErrors(errors, p.errors);
    return finishThroughput(name, done, errors, check(produced, done), Math.min(...produced.map((p) => p.firstSendMs)), loadOf([...produced, ...done]));
  }
  const count = Math.max(1, Math.round(opts.ratePerSec * opts.seconds));
  const deadlineMs = opts.seconds * 1000 + 60_000;
  const agents = await startAll(pool, [
    workerSpec(opts, at, count, true, false, Math.max(0, (at.brokers?.length ?? 1) - 1)),
    ["paced-producer-0", { role: "paced-producer", host: at.host, port: at.port, queue: at.queue, ratePerSec: opts.ratePerSec, count, payloadBytes: opts.payloadBytes, deadlineMs }],
  ]);
  const [workerAgent, producerAgent] = agents;
  await stopWhenDone([workerAgent!], count, deadlineMs, [producerAgent!]);
  const [paced] = await reports<ProducerReport>([producerAgent!]);
  const [worker] = await reports<WorkerReport>([workerAgent!]);
  mergeErrors(errors, paced!.errors);
  mergeErrors(errors, worker!.errors);
  const elapsedSecs = (worker!.lastCompleteMs - paced!.firstSendMs) / 1000;
  return {
    workload: name,
    tasks: worker!.completed,
    elapsedSecs,
    tasksPerSec: paced!.submitted / ((paced!.lastAckMs - paced!.firstSendMs) / 1000),
    latency: summarizeLatencies(worker!.latenciesMs),
    check: null,
    errors,
    ...loadOf([paced!, worker!]),
  };
}

type AgentLoad = Pick<WorkloadRun, "agentsCpuSecs" | "agentsWarm">;

function loadOf(reports: readonly (ProducerReport | WorkerReport)[]): AgentLoad {
  return { agentsCpuSecs: reports.reduce((sum, r) => sum + r.cpuSecs, 0), agentsWarm: reports.every((r) => r.job > 1) };
}

function finishThroughput(
  name: WorkloadName,
  done: readonly WorkerReport[],
  errors: ErrorCounts,
  completion: CompletionCheck,
  startMs: number,
  load: AgentLoad,
): WorkloadRun {
  for (const w of done) mergeErrors(errors, w.errors);
  const tasks = done.reduce((s, w) => s + w.completed, 0);
  const elapsedSecs = (Math.max(...done.map((w) => w.lastCompleteMs)) - startMs) / 1000;
  return { workload: name, tasks, elapsedSecs, tasksPerSec: tasks / elapsedSecs, latency: null, check: completion, errors, ...load };
}

/** Completes `count` tasks left in the run's queue, untimed: W1 must not leave its load in a shared broker. */
export async function drainQueue(opts: BenchOptions, at: Endpoint, count: number, pool: AgentPool): Promise<void> {
  if (count === 0) return;
  const [slot, spec] = workerSpec(opts, at, count, false, true);
  const workers = await startAll(pool, [[slot, { ...spec, recordIds: false }]]);
  await stopWhenDone(workers, count, deadlineMsFor(count), []);
  await reports<WorkerReport>(workers);
}
