// The peer bench's figures: medians and ranges per server, and tq-broker / beanstalkd ratios taken
// round by round (each round's runs ran back to back, so a ratio compares like with like on a
// shared machine). Pure: numbers in, text or JSON out.

import type { WorkloadName } from "../../src/bench/bench-options.ts";
import { spread, type Spread } from "../../src/bench/stats.ts";
import { TARGETS, type PeerRun, type PeersRun, type Target } from "./peer-run.ts";

export interface TargetSummary {
  runs: number;
  tasks: number;
  tasksPerSec: Spread;
  p50Ms: Spread | null;
  p99Ms: Spread | null;
  /** Server CPU µs per task over the timed run. */
  cpuUsPerTask: Spread | null;
  peakRssMiB: Spread | null;
  /** CPU seconds of the load processes (producers + workers) per run: shows whether the load kept up. */
  agentsCpuSecs: Spread;
  /** Untimed tasks each server and its agents ran first. */
  warmedUp: number;
  exactlyOnce: boolean | null;
  errors: Record<string, number>;
}

/** tq-broker's figure over beanstalkd's, per round; for tasks/s above 1 is tq-broker ahead, for the others below 1 is. */
export interface Ratio {
  figure: "tasks/s" | "p50 ms" | "p99 ms" | "server CPU µs/task";
  vsBinlog: Spread;
  vsNoBinlog: Spread;
}

export interface WorkloadSummary {
  workload: WorkloadName;
  tqSync: string | null;
  warmup: number;
  targets: Record<Target, TargetSummary>;
  ratios: Ratio[];
}

export interface PeersSummary {
  beanstalkd: { version: string; binlog: string };
  parameters: { n: number; payloadBytes: number; producers: number; concurrency: number; batch: number; window: number; ratePerSec: number; seconds: number; runs: number; tqArgs: string[] };
  workloads: WorkloadSummary[];
}

const LABELS: Record<Target, string> = { "tq-broker": "tq-broker", "beanstalkd-binlog": "beanstalkd, binlog", "beanstalkd-nobinlog": "beanstalkd, no binlog" };

function cpuUsPerTask(r: PeerRun): number {
  return r.serverCpuSecs === null || r.tasks === 0 ? Number.NaN : (r.serverCpuSecs * 1e6) / r.tasks;
}

function summarizeTarget(runs: readonly PeerRun[]): TargetSummary {
  const latencies = runs.map((r) => r.latency).filter((l) => l !== null);
  const errors: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const checked = runs.filter((r) => r.exactlyOnce !== null);
  return {
    runs: runs.length,
    tasks: spread(runs.map((r) => r.tasks)).median,
    tasksPerSec: spread(runs.map((r) => r.tasksPerSec)),
    p50Ms: latencies.length === 0 ? null : spread(latencies.map((l) => l.p50Ms)),
    p99Ms: latencies.length === 0 ? null : spread(latencies.map((l) => l.p99Ms)),
    cpuUsPerTask: runs.some((r) => r.serverCpuSecs !== null) ? spread(runs.map(cpuUsPerTask)) : null,
    peakRssMiB: runs.some((r) => r.serverPeakRssMiB !== null) ? spread(runs.map((r) => r.serverPeakRssMiB ?? Number.NaN)) : null,
    agentsCpuSecs: spread(runs.map((r) => r.agentsCpuSecs)),
    warmedUp: spread(runs.map((r) => r.warmedUp)).median,
    exactlyOnce: checked.length === 0 ? null : checked.every((r) => r.exactlyOnce === true),
    errors,
  };
}

function pairedRatio(tq: readonly PeerRun[], peer: readonly PeerRun[], figure: (r: PeerRun) => number): Spread {
  return spread(tq.map((r, i) => figure(r) / (peer[i] === undefined ? Number.NaN : figure(peer[i]!))));
}

function ratios(workload: WorkloadName, runs: Record<Target, PeerRun[]>): Ratio[] {
  const figures: [Ratio["figure"], (r: PeerRun) => number][] =
    workload === "W4"
      ? [
          ["p50 ms", (r) => r.latency?.p50Ms ?? Number.NaN],
          ["p99 ms", (r) => r.latency?.p99Ms ?? Number.NaN],
        ]
      : [["tasks/s", (r) => r.tasksPerSec]];
  figures.push(["server CPU µs/task", cpuUsPerTask]);
  return figures.map(([figure, of]) => ({
    figure,
    vsBinlog: pairedRatio(runs["tq-broker"], runs["beanstalkd-binlog"], of),
    vsNoBinlog: pairedRatio(runs["tq-broker"], runs["beanstalkd-nobinlog"], of),
  }));
}

export function summarizePeers(result: PeersRun): PeersSummary {
  const o = result.options;
  const fsync = o.binlogFsync === "never" ? "-F" : `-f ${o.binlogFsync.everyMs}`;
  return {
    beanstalkd: { version: result.beanstalkd.version, binlog: `-b DIR ${fsync}` },
    parameters: { n: o.n, payloadBytes: o.payloadBytes, producers: o.producers, concurrency: o.concurrency, batch: o.batch, window: o.window, ratePerSec: o.ratePerSec, seconds: o.seconds, runs: o.runs, tqArgs: o.tqArgs },
    workloads: result.workloads.map((w) => ({
      workload: w.workload,
      tqSync: w.tqSync,
      warmup: w.runs["tq-broker"][0]?.warmedUp ?? 0,
      targets: Object.fromEntries(TARGETS.map((t) => [t, summarizeTarget(w.runs[t])])) as Record<Target, TargetSummary>,
      ratios: ratios(w.workload, w.runs),
    })),
  };
}

function num(v: number, digits = 0): string {
  if (!Number.isFinite(v)) return "-";
  return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function withRange(s: Spread | null, digits = 0): string {
  if (s === null) return "-";
  if (!Number.isFinite(s.median) || s.min === s.max) return num(s.median, digits);
  return `${num(s.median, digits)} (${num(s.min, digits)}-${num(s.max, digits)})`;
}

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd()).join("\n");
}

export function formatPeersTable(s: PeersSummary): string {
  const p = s.parameters;
  const sync = [...new Set(s.workloads.map((w) => w.tqSync ?? "?"))].join("/");
  const head = [
    `tq-broker (tq-broker bench --spawn, sync ${sync}${p.tqArgs.length > 0 ? `, ${p.tqArgs.join(" ")}` : ""}) against ${s.beanstalkd.version} (binlog: ${s.beanstalkd.binlog}; no binlog: in memory only)`,
    `${num(p.n)} tasks of ${p.payloadBytes} B, ${p.producers} producer(s), concurrency ${p.concurrency}, batch ${p.batch}, window ${p.window}; W4 at ${num(p.ratePerSec)}/s for ${p.seconds} s`,
    `median of ${p.runs} interleaved run(s) per server (range in brackets)`,
  ];
  const rows: string[][] = [["workload", "server", "tasks/s", "p50 / p99 ms", "server CPU µs/task", "server peak RSS MiB", "load CPU s", "exactly once", "errors"]];
  for (const w of s.workloads) {
    for (const t of TARGETS) {
      const x = w.targets[t];
      rows.push([
        t === "tq-broker" ? w.workload : "",
        LABELS[t],
        withRange(x.tasksPerSec),
        x.p50Ms === null ? "-" : `${withRange(x.p50Ms, 2)} / ${withRange(x.p99Ms, 2)}`,
        withRange(x.cpuUsPerTask, 1),
        withRange(x.peakRssMiB, 1),
        withRange(x.agentsCpuSecs, 2),
        x.exactlyOnce === null ? "-" : x.exactlyOnce ? "yes" : "NO",
        Object.keys(x.errors).length === 0 ? "" : JSON.stringify(x.errors),
      ]);
    }
  }
  const ratioRows: string[][] = [["workload", "figure", "tq-broker / beanstalkd binlog", "tq-broker / beanstalkd no binlog"]];
  for (const w of s.workloads) {
    w.ratios.forEach((r, i) => ratioRows.push([i === 0 ? w.workload : "", r.figure, `x${withRange(r.vsBinlog, 2)}`, `x${withRange(r.vsNoBinlog, 2)}`]));
  }
  const warmups = s.workloads.map((w) => `${w.workload} ${num(w.warmup)}`).join(", ");
  return [
    ...head,
    "",
    pad(rows),
    "",
    "Ratios, tq-broker's figure over beanstalkd's in the same round (median, range): tasks/s above 1 = tq-broker faster; latency and CPU below 1 = tq-broker lower.",
    pad(ratioRows),
    "",
    `Untimed warm-up on each fresh server, the same for both: ${warmups} tasks.`,
  ].join("\n");
}

export function formatPeersJson(s: PeersSummary): string {
  return JSON.stringify(s);
}
