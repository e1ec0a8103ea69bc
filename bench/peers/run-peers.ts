// `npm run bench:peers`: tq-broker against beanstalkd on W1-W4. Per workload, `runs` rounds of
// tq-broker (its own `tq-broker bench --spawn --json`, so the comparison follows whatever that
// runs by default), then beanstalkd with its binlog, then without, each on a fresh server; the
// beanstalkd load runs in agent processes through the same runWorkload as tq-broker's.

import { AgentPool } from "../../src/bench/agent-process.ts";
import { epochMs } from "../../src/bench/agent-protocol.ts";
import type { BenchOptions, WorkloadName } from "../../src/bench/bench-options.ts";
import { ProcSampler } from "../../src/bench/proc-sampler.ts";
import { warmUp } from "../../src/bench/run-bench.ts";
import { runWorkload, type Endpoint } from "../../src/bench/run-workload.ts";
import { childEnv, selfCommand } from "../../src/bench/self-command.ts";
import type { LatencySummary } from "../../src/bench/stats.ts";
import { HelpRequested } from "../../src/cli/exit-codes.ts";
import { BEANSTALKD_AGENT_COMMAND } from "./beanstalkd-agent.ts";
import { ensureBeanstalkd, startBeanstalkd, type Installed } from "./beanstalkd-server.ts";
import { parsePeersOptions, tqBenchArgs, USAGE, type PeersOptions } from "./peers-options.ts";
import { TARGETS, type PeerRun, type PeersRun, type Target, type WorkloadRuns } from "./peer-run.ts";
import { formatPeersJson, formatPeersTable, summarizePeers } from "./peers-report.ts";

/** A safety net over each `tq-broker bench` child, whose own deadlines come first. */
const TQ_BENCH_DEADLINE_MS = 30 * 60_000;
const STDERR_TAIL_CHARS = 4000;

/** The JSON line `tq-broker bench --json` prints for one workload (the fields used here). */
interface TqBenchLine {
  workload: string;
  sync: string | null;
  exactlyOnce: boolean | null;
  errors: Record<string, number>;
  perRun: { warmedUp: number; tasks: number; tasksPerSec: number; latencyMs: LatencySummary | null; broker: { peakRssMiB: number | null; cpuSecs: number | null } | null; agentsCpuSecs: number }[];
}

async function tqRun(opts: PeersOptions, workload: WorkloadName): Promise<{ run: PeerRun; sync: string | null }> {
  const command = opts.tqBroker === null ? selfCommand() : [opts.tqBroker];
  const argv = [...command, ...tqBenchArgs(opts, workload)];
  const proc = Bun.spawn(argv, { env: childEnv(process.env), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), TQ_BENCH_DEADLINE_MS);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  const text = out.trim().split("\n").findLast((l) => l.startsWith("{"));
  // Exit 1 with a line is a finished bench whose exactly-once check failed: reported, not thrown.
  if (text === undefined || (code !== 0 && code !== 1)) throw new Error(`${argv.join(" ")} exited with ${code}: ${err.slice(-STDERR_TAIL_CHARS)}`);
  const line = JSON.parse(text) as TqBenchLine;
  const r = line.perRun[0];
  if (line.workload !== workload || r === undefined) throw new Error(`tq-broker bench answered ${text.slice(0, 200)} for ${workload}`);
  return {
    sync: line.sync,
    run: {
      tasks: r.tasks,
      tasksPerSec: r.tasksPerSec,
      latency: r.latencyMs,
      serverCpuSecs: r.broker?.cpuSecs ?? null,
      serverPeakRssMiB: r.broker?.peakRssMiB ?? null,
      agentsCpuSecs: r.agentsCpuSecs,
      exactlyOnce: line.exactlyOnce,
      errors: line.errors,
      warmedUp: r.warmedUp,
    },
  };
}

function benchOptions(opts: PeersOptions, workload: WorkloadName, host: string, port: number, warmup: number): BenchOptions {
  return {
    target: { kind: "url", host, port },
    workloads: [workload],
    n: opts.n,
    payloadBytes: opts.payloadBytes,
    producers: opts.producers,
    concurrency: opts.concurrency,
    batch: opts.batch,
    ratePerSec: opts.ratePerSec,
    seconds: opts.seconds,
    runs: 1,
    window: opts.window,
    cpuProfDir: null,
    restart: false,
    warmup,
    front: "tcp",
    // beanstalkd's agents are C reserve loops whatever this says; "raw" gives them C lanes.
    consumer: "raw",
    prefetch: null,
  };
}

/** One run on a fresh beanstalkd, shaped as tq-broker bench's spawned run: warm-up, then timed under a sampler. */
async function beanstalkdRun(opts: PeersOptions, workload: WorkloadName, binary: string, binlog: boolean, warmup: number, queue: string): Promise<PeerRun> {
  const server = await startBeanstalkd(binary, { binlog: binlog ? { fsync: opts.binlogFsync } : null, maxJobBytes: Math.max(8, opts.payloadBytes) });
  const pool = new AgentPool(BEANSTALKD_AGENT_COMMAND);
  try {
    const bench = benchOptions(opts, workload, server.host, server.port, warmup);
    const at: Endpoint = { host: server.host, port: server.port, queue };
    const warmedUp = warmup > 0 ? await warmUp(workload, bench, warmup, { ...at, queue: `${queue}-warmup` }, pool) : 0;
    const sampler = new ProcSampler(server.pid);
    sampler.start();
    const run = await runWorkload(workload, bench, at, pool).finally(() => sampler.stop());
    const usage = sampler.stop();
    return {
      tasks: run.tasks,
      tasksPerSec: run.tasksPerSec,
      latency: run.latency,
      serverCpuSecs: usage.cpuSecs,
      serverPeakRssMiB: usage.peakRssMiB,
      agentsCpuSecs: run.agentsCpuSecs,
      // A job reserved twice (TTR expiry) and deleted once would pass the check by ids alone.
      exactlyOnce: run.check === null ? null : run.check.exactlyOnce && run.errors["reserved twice"] === undefined,
      errors: run.errors,
      warmedUp,
    };
  } finally {
    await pool.close();
    await server.stop();
  }
}

export async function runPeers(opts: PeersOptions, log: (line: string) => void): Promise<PeersRun> {
  const beanstalkd = await ensureBeanstalkd(log);
  const runTag = Math.floor(epochMs()).toString(36);
  const workloads: WorkloadRuns[] = [];
  for (const workload of opts.workloads) {
    const runs: Record<Target, PeerRun[]> = { "tq-broker": [], "beanstalkd-binlog": [], "beanstalkd-nobinlog": [] };
    let tqSync: string | null = null;
    for (let i = 0; i < opts.runs; i++) {
      const tq = await tqRun(opts, workload);
      tqSync = tq.sync;
      runs["tq-broker"].push(tq.run);
      log(runLine(workload, i, opts.runs, "tq-broker", tq.run));
      // beanstalkd's agents warm up as much as tq-broker's bench reports its own did.
      for (const target of ["beanstalkd-binlog", "beanstalkd-nobinlog"] as const) {
        const queue = `bench-${runTag}-${workload.toLowerCase()}-${i}-${target === "beanstalkd-binlog" ? "b" : "m"}`;
        const run = await beanstalkdRun(opts, workload, beanstalkd.path, target === "beanstalkd-binlog", tq.run.warmedUp, queue);
        runs[target].push(run);
        log(runLine(workload, i, opts.runs, target, run));
      }
    }
    workloads.push({ workload, tqSync, runs });
  }
  return { beanstalkd, options: opts, workloads };
}

function runLine(workload: WorkloadName, i: number, runs: number, target: Target, run: PeerRun): string {
  const cpu = run.serverCpuSecs === null || run.tasks === 0 ? "" : `, server CPU ${((run.serverCpuSecs * 1e6) / run.tasks).toFixed(1)} µs/task`;
  const p99 = run.latency === null ? "" : `, p99 ${run.latency.p99Ms.toFixed(2)} ms`;
  return `${workload} round ${i + 1}/${runs} ${target}: ${Math.round(run.tasksPerSec).toLocaleString("en-US")} tasks/s${p99}${cpu}`;
}

/** Exit 0, or 1 when a run did not complete every task exactly once or had error answers. */
export function peersClean(result: PeersRun): boolean {
  return result.workloads.every((w) => TARGETS.every((t) => w.runs[t].every((r) => r.exactlyOnce !== false && Object.keys(r.errors).length === 0)));
}

if (import.meta.main) {
  let opts: PeersOptions;
  try {
    opts = parsePeersOptions(process.argv.slice(2));
  } catch (err) {
    if (err instanceof HelpRequested) {
      console.log(USAGE);
      process.exit(0);
    }
    console.error(`bench:peers: ${err instanceof Error ? err.message : String(err)}\n${USAGE.split("\n")[0]}`);
    process.exit(64);
  }
  try {
    const result = await runPeers(opts, (line) => console.error(line));
    const summary = summarizePeers(result);
    console.log(opts.json ? formatPeersJson(summary) : formatPeersTable(summary));
    process.exit(peersClean(result) ? 0 : 1);
  } catch (err) {
    console.error(`bench:peers: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
