// Restart with N pending tasks, A/B: times `tq-broker serve` restarting on a data dir that holds
// N pending tasks after a clean stop, alternating between two builds (trees or binaries), each on
// its own copy of the data. Per start: spawn to "listening", spawn to the first claim served, the
// broker's CPU and RSS at that claim, its "store opened" steps (open_ms), and when the checks
// after serving ended (with RSS then). Prints one JSON line per start, then medians and the
// per-pair ratios of B to A.
//
//   bun bench/restart.ts prepare DIR [-n 1000000]          a data dir of N pending 100-byte tasks
//   bun bench/restart.ts run --a ENTRY,DIR [--b ENTRY,DIR] [--pairs 5]
//
// ENTRY is a tree's src/cli/main.ts (run with this bun) or a compiled tq-broker binary. DIR must
// not be shared between A and B: copy the prepared dir (`cp -a`), one copy per side. The first
// start on each dir is not counted (a copied file has no valid clean-stop record, so that start
// checks everything before serving; it leaves one). Loopback only; stops only the brokers it
// started, by PID.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CLOCK_TICKS_PER_SEC, ProcSampler, readCpuTicks } from "../src/bench/proc-sampler.ts";
import { drainLines, withDeadline } from "../src/bench/stream-lines.ts";
import { WireConn } from "../src/bench/wire-conn.ts";
import { openSqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { openDataDir } from "../src/store/data-dir.ts";
import type { NewTask } from "../src/rules/task.ts";

const QUEUE = "restart-bench";
const START_DEADLINE_MS = 120_000;
const CHECKS_DEADLINE_MS = 180_000;

interface Start {
  side: string;
  listeningMs: number;
  firstClaimMs: number;
  cpuMsAtClaim: number;
  rssMiBAtClaim: number;
  checksEndMs: number | null;
  rssMiBAfterChecks: number | null;
  openMs: Record<string, number>;
  rowsAndIndexes: string;
  memoryFrom: string;
  /** SIGTERM to exit (the clean stop, which writes the record and, from this build on, the memory snapshot). */
  stopMs: number;
}

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function prepare(dir: string, n: number): Promise<void> {
  const dataDir = openDataDir(dir);
  const store = openSqliteStore({ path: join(dataDir.path, "tq.db"), sync: "interval" });
  const payload = new Uint8Array(100).fill(0x61);
  const batch: NewTask[] = [];
  const now = Date.now();
  for (let i = 0; i < 1000; i++) batch.push({ type: "bench.noop", queue: QUEUE, payload, payloadIsJson: false, priority: 100, runAtMs: null, maxRetries: 3, leaseMs: 30_000, idempotencyKey: null });
  for (let done = 0; done < n; done += 1000) await store.submit(batch.slice(0, Math.min(1000, n - done)), now);
  await store.close();
  dataDir.release();
  console.log(`prepared ${dir}: ${n} pending tasks in queue ${QUEUE}`);
}

function cpuMs(pid: number): number {
  return ((readCpuTicks(pid) ?? 0) * 1000) / CLOCK_TICKS_PER_SEC;
}

function rssMiB(pid: number): number {
  return new ProcSampler(pid).rssMiB() ?? 0;
}

async function startOnce(side: string, entry: string, dir: string): Promise<Start> {
  const cmd = entry.endsWith(".ts") ? [process.execPath, entry] : [entry];
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("TQ_")) env[k] = v;
  Object.assign(env, {
    TQ_BROKER_HOST: "127.0.0.1",
    TQ_API_REST_PORT: "0",
    TQ_API_GRPC_PORT: "0",
    TQ_MONITORING_PROMETHEUS_PORT: "0",
    TQ_MONITORING_LOG_LEVEL: "info",
    TQ_MONITORING_JSON_LOGGING: "true",
    TQ_BROKER_QUEUE_DEPTH_THRESHOLD: "100000000",
    BUN_OPTIONS: `${env.BUN_OPTIONS ?? ""} --no-orphans`.trim(),
  });
  const t0 = performance.now();
  const proc = Bun.spawn([...cmd, "serve", "--port", "0", "--data-dir", dir], { cwd: dir, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const tail: string[] = [];
  void drainLines(proc.stderr, (l) => tail.push(l));
  let address: string | null = null;
  let opened: Record<string, unknown> | null = null;
  let onListening: () => void = () => {};
  let onChecks: () => void = () => {};
  let checksAt: number | null = null;
  const listening = new Promise<void>((r) => (onListening = r));
  const checks = new Promise<void>((r) => (onChecks = r));
  void drainLines(proc.stdout, (line) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (entry.msg === "store opened") opened = entry;
    if (entry.msg === "listening" && entry.key === "broker.port" && address === null) {
      address = String(entry.address);
      onListening();
    }
    if (typeof entry.msg === "string" && entry.msg.startsWith("checks after start")) {
      checksAt = performance.now() - t0;
      onChecks();
    }
  });
  try {
    await withDeadline(listening, START_DEADLINE_MS, "the broker did not listen");
    const listeningMs = performance.now() - t0;
    const colon = address!.lastIndexOf(":");
    const conn = await WireConn.open(address!.slice(0, colon), Number(address!.slice(colon + 1)));
    const r = await conn.send({ kind: "ClaimTask", queues: [QUEUE], max: 1, waitMs: 60_000 });
    const firstClaimMs = performance.now() - t0;
    const cpuMsAtClaim = cpuMs(proc.pid);
    const rssMiBAtClaim = rssMiB(proc.pid);
    conn.close();
    if (r.kind !== "Claimed" || r.tasks.length === 0) throw new Error(`the restarted broker answered ${r.kind}`);
    const o = (opened ?? {}) as { open_ms?: Record<string, number>; rows_and_indexes_checked?: string; memory_from?: string };
    let rssMiBAfterChecks: number | null = null;
    if (o.rows_and_indexes_checked === "after serving") {
      await withDeadline(checks, CHECKS_DEADLINE_MS, "the checks after serving did not end");
      rssMiBAfterChecks = rssMiB(proc.pid);
    }
    const stopped = performance.now();
    await stop(proc);
    const stopMs = performance.now() - stopped;
    return {
      side, listeningMs, firstClaimMs, cpuMsAtClaim, rssMiBAtClaim, checksEndMs: checksAt, rssMiBAfterChecks, openMs: o.open_ms ?? {},
      rowsAndIndexes: o.rows_and_indexes_checked ?? "?", memoryFrom: o.memory_from ?? "-", stopMs,
    };
  } catch (err) {
    throw new Error(`${String(err)}; last lines:\n${tail.join("\n")}`);
  } finally {
    await stop(proc);
  }
}

async function stop(proc: Bun.Subprocess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
  await proc.exited;
  clearTimeout(timer);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function spread(xs: number[]): string {
  if (xs.length === 0) return "-";
  return `median ${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`;
}

function loadAvg(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

async function run(args: string[]): Promise<void> {
  const sides: [string, string, string][] = [];
  for (const name of ["a", "b"]) {
    const v = arg(args, `--${name}`);
    if (v === undefined) continue;
    const [entry, dir] = v.split(",");
    if (entry === undefined || dir === undefined) throw new Error(`--${name} wants ENTRY,DIR`);
    sides.push([name.toUpperCase(), entry, dir]);
  }
  if (sides.length === 0) throw new Error("give --a ENTRY,DIR (and --b ENTRY,DIR)");
  const pairs = Number(arg(args, "--pairs") ?? 5);
  for (const [side, entry, dir] of sides) {
    const s = await startOnce(side, entry, dir);
    console.log(JSON.stringify({ settle: true, ...s }));
  }
  const all: Start[] = [];
  for (let i = 0; i < pairs; i++) {
    // Alternate which side goes first, so neither always follows the other.
    const order = i % 2 === 0 ? sides : [...sides].reverse();
    for (const [side, entry, dir] of order) {
      const s = await startOnce(side, entry, dir);
      all.push(s);
      console.log(JSON.stringify({ pair: i, load: loadAvg(), ...s }));
    }
  }
  for (const [side] of sides) {
    const mine = all.filter((s) => s.side === side);
    console.log(
      `${side}: listening ${spread(mine.map((s) => s.listeningMs))} ms, first claim ${spread(mine.map((s) => s.firstClaimMs))} ms, ` +
        `CPU at claim ${spread(mine.map((s) => s.cpuMsAtClaim))} ms, RSS at claim ${spread(mine.map((s) => s.rssMiBAtClaim))} MiB, ` +
        `RSS after checks ${spread(mine.flatMap((s) => (s.rssMiBAfterChecks === null ? [] : [s.rssMiBAfterChecks])))} MiB, ` +
        `checks end ${spread(mine.flatMap((s) => (s.checksEndMs === null ? [] : [s.checksEndMs])))} ms, stop ${spread(mine.map((s) => s.stopMs))} ms`,
    );
  }
  if (sides.length === 2) {
    const a = all.filter((s) => s.side === "A");
    const b = all.filter((s) => s.side === "B");
    const ratios = (f: (s: Start) => number): number[] => a.map((x, i) => f(b[i]!) / f(x));
    const fmt = (xs: number[]): string => `median ${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})`;
    console.log(`B/A per pair: listening ${fmt(ratios((s) => s.listeningMs))}, first claim ${fmt(ratios((s) => s.firstClaimMs))}, CPU at claim ${fmt(ratios((s) => s.cpuMsAtClaim))}`);
  }
  console.log(`load average at the end: ${loadAvg()}`);
}

const [command, ...rest] = process.argv.slice(2);
if (command === "prepare" && rest[0] !== undefined) await prepare(rest[0], Number(arg(rest, "-n") ?? 1_000_000));
else if (command === "run") await run(rest);
else {
  console.error("usage: bun bench/restart.ts prepare DIR [-n N] | run --a ENTRY,DIR [--b ENTRY,DIR] [--pairs P]");
  process.exit(2);
}
