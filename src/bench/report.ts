// Formats bench results: a readable table, or one JSON object per workload (--json). Pure
// string building; the command decides where the text goes.

import type { RunFigures, WorkloadResult } from "./run-bench.ts";
import type { Spread } from "./stats.ts";

function num(v: number, digits = 0): string {
  if (!Number.isFinite(v)) return "-";
  return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "123,456 (120,001-130,222)" with the range only when there was more than one run. */
function withRange(s: Spread, runs: number, digits = 0): string {
  if (runs <= 1 || s.min === s.max) return num(s.median, digits);
  return `${num(s.median, digits)} (${num(s.min, digits)}-${num(s.max, digits)})`;
}

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd()).join("\n");
}

export function formatTable(results: readonly WorkloadResult[]): string {
  const postgres = results.some((r) => r.postgresCpuSecs !== null);
  const rows: string[][] = [
    ["workload", "sync", "tasks", "tasks/s", "latency p50 / p99 / p99.9 / max ms", "broker peak RSS MiB", "broker CPU s", ...(postgres ? ["PostgreSQL CPU s"] : []), "load CPU s", "exactly once"],
  ];
  for (const r of results) {
    const n = r.runs.length;
    const latency =
      r.latency === null
        ? "-"
        : [r.latency.p50Ms, r.latency.p99Ms, r.latency.p999Ms, r.latency.maxMs].map((s) => withRange(s, n, 3)).join(" / ");
    rows.push([
      r.workload,
      r.backend === "postgres" ? `postgres, ${r.brokers} broker${r.brokers === 1 ? "" : "s"}` : (r.sync ?? "(url)"),
      num(r.runs.reduce((s, run) => s + run.tasks, 0) / n),
      withRange(r.tasksPerSec, n),
      latency,
      r.peakRssMiB === null ? "-" : withRange(r.peakRssMiB, n, 1),
      r.cpuSecs === null ? "-" : withRange(r.cpuSecs, n, 2),
      ...(postgres ? [r.postgresCpuSecs === null ? "-" : withRange(r.postgresCpuSecs, n, 2)] : []),
      withRange(r.agentsCpuSecs, n, 2),
      r.exactlyOnce === null ? "-" : r.exactlyOnce ? "yes" : "NO",
    ]);
  }
  const notes: string[] = [];
  const consumers = new Set(results.filter((r) => r.workload !== "W1").map(consumerNote));
  notes.push(...consumers);
  const pg = results.find((r) => r.backend === "postgres");
  if (pg !== undefined) {
    notes.push(
      `${pg.brokers} broker${pg.brokers === 1 ? "" : "s"} on the bench's own PostgreSQL server (synchronous_commit on, fsync on, a fresh schema per run)` +
        (pg.brokers > 1 ? "; producers round-robin over the brokers, one worker per broker with the concurrency split between them" : "") +
        "; broker CPU is the brokers' sum, PostgreSQL CPU its processes' over the timed run",
    );
  }
  for (const r of results) {
    const n = r.runs.length;
    if (n > 1) notes.push(`${r.workload}: median of ${n} runs (range in brackets)`);
    if (r.sync !== null) notes.push(warmupNote(r));
    if (r.front === "grpc") notes.push(`${r.workload}: through the gRPC front door (SubmitBatch calls, Work streams)`);
    for (const c of r.checks.filter((c) => !c.exactlyOnce)) {
      notes.push(`${r.workload}: submitted ${c.submitted}, completed ${c.completed}, duplicates ${c.duplicates}, missing ${c.missing}, unknown ${c.unknown}`);
    }
    if (r.commits !== null) {
      const c = r.commits;
      notes.push(
        `${r.workload} broker group commits: ${withRange(c.opsPerCommit, n, 1)} ops/commit, commit p50 ${withRange(c.p50Ms, n, 2)} ms, p99 ${withRange(c.p99Ms, n, 2)} ms, longest checkpoint stall ${withRange(c.checkpointStallMaxMs, n, 1)} ms, all checkpoints ${withRange(c.checkpointStallTotalMs, n, 0)} ms`,
      );
    }
    const errors = mergedErrors(r.runs);
    if (Object.keys(errors).length > 0) notes.push(`${r.workload}: error answers ${JSON.stringify(errors)}`);
    if (r.restart !== null) {
      const x = r.restart;
      notes.push(
        `${r.workload} restart with ${num(x.pending)} pending: listening after ${withRange(x.listeningMs, n)} ms, serving after ${withRange(x.readyMs, n)} ms, RSS then ${withRange(x.rssMiB, n, 1)} MiB`,
      );
    }
  }
  return notes.length === 0 ? pad(rows) : `${pad(rows)}\n\n${notes.join("\n")}`;
}

/** Who consumed the tasks: the output always says, since the two differ by a factor. */
function consumerNote(r: WorkloadResult): string {
  return r.consumer === "sdk"
    ? `consumer: the SDK Worker as \`tq-broker worker\` runs it (concurrency ${r.concurrency}, prefetch ${r.prefetch === "auto" ? "adaptive" : r.prefetch}; a subscription, outcomes batched per turn)`
    : `consumer: the raw pipelined claimer (--raw: ${r.concurrency} connections, claims of up to the batch, results not waited for); no deployment runs this`;
}

/** What each run's warm-up ran first: for W4 at most 20,000 of --warmup (see run-bench.ts warmUp). */
function warmupNote(r: WorkloadResult): string {
  const ran = r.runs[0]?.warmedUp ?? r.warmup;
  if (ran === 0) return `${r.workload}: fresh brokers and agents, no warm-up${r.workload === "W4" ? " (the default for W4; --warmup N warms them)" : " (--warmup 0)"}`;
  const option = ran < r.warmup ? `--warmup ${num(r.warmup)}, at most ${num(ran)} for ${r.workload}` : "--warmup";
  return `${r.workload}: each broker and its load agents ran ${num(ran)} untimed tasks of ${r.workload} first (${option})`;
}

function mergedErrors(runs: readonly RunFigures[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const run of runs) for (const [k, v] of Object.entries(run.errors)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** One line per workload: medians at the top level, every run's own figures under `runs`. */
export function formatJsonLines(results: readonly WorkloadResult[]): string {
  return results
    .map((r) =>
      JSON.stringify({
        workload: r.workload,
        description: r.description,
        sync: r.sync,
        backend: r.backend,
        brokers: r.brokers,
        front: r.front,
        consumer: r.consumer,
        concurrency: r.concurrency,
        prefetch: r.prefetch,
        warmup: r.warmup,
        runs: r.runs.length,
        tasks: r.runs[0]?.tasks ?? 0,
        tasksPerSec: r.tasksPerSec,
        latencyMs: r.latency,
        broker: r.peakRssMiB === null ? null : { peakRssMiB: r.peakRssMiB, cpuSecs: r.cpuSecs },
        postgresCpuSecs: r.postgresCpuSecs,
        agentsCpuSecs: r.agentsCpuSecs,
        commits: r.commits,
        restart: r.restart,
        exactlyOnce: r.exactlyOnce,
        checks: r.checks,
        errors: mergedErrors(r.runs),
        perRun: r.runs.map((run) => ({
          warmedUp: run.warmedUp,
          tasks: run.tasks,
          elapsedSecs: run.elapsedSecs,
          tasksPerSec: run.tasksPerSec,
          latencyMs: run.latency,
          broker: run.broker,
          postgresCpuSecs: run.postgresCpuSecs,
          agentsCpuSecs: run.agentsCpuSecs,
          agentsWarm: run.agentsWarm,
          commits: run.commits,
          restart: run.restart,
        })),
      }),
    )
    .join("\n");
}
