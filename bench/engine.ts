// `bun run bench:engine`: the queue engine and SQLite store alone (no network), median of several
// runs: submit/claim/complete throughput in batches, commit latency, RSS with 1M pending tasks and
// the time to reopen and recover them. Prints figures; asserts nothing.
// Knobs: BENCH_RUNS (3), BENCH_TASKS (200000), BENCH_PENDING (1000000), BENCH_SYNC (full|interval),
// BENCH_FLUSH (immediate|microtask), BENCH_CHECKPOINT (inline|worker), BENCH_PRIORITIES (tiers|mixed|one).

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FlushOn } from "../src/store/sqlite/group-commit.ts";
import { openSqliteStore, type SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import type { Lease, NewTask } from "../src/rules/task.ts";
import { claim, complete } from "../test/helpers/store-ops.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const TASKS = Number(process.env.BENCH_TASKS ?? 200_000);
const PENDING = Number(process.env.BENCH_PENDING ?? 1_000_000);
const SYNC = (process.env.BENCH_SYNC ?? "full") as "full" | "interval";
const FLUSH = (process.env.BENCH_FLUSH ?? "immediate") as FlushOn;
const CHECKPOINT_IN = (process.env.BENCH_CHECKPOINT ?? "inline") as "worker" | "inline";
/**
 * tiers: the three tier defaults (10% high, 70% normal, 20% low), as most producers use them;
 * mixed: every priority 0-255, so claims jump all over the table (the worst case for page locality);
 * one: a single priority (pure FIFO).
 */
const PRIORITIES = (process.env.BENCH_PRIORITIES ?? "tiers") as "tiers" | "mixed" | "one";

function priorityOf(i: number): number {
  if (PRIORITIES === "mixed") return (i * 7) % 256;
  if (PRIORITIES === "one") return 150;
  const r = (i * 7919) % 10;
  return r === 0 ? 255 : r < 8 ? 150 : 50;
}
const SUBMIT_BATCH = 1000;
const SUBMIT_IN_FLIGHT = 4;
const CLAIM_BATCH = 100;
const CLAIMS_IN_FLIGHT = 10;
const COMPLETES_IN_FLIGHT = 1000;

const payload = new TextEncoder().encode(JSON.stringify({ to: "user@example.com", template: "welcome", n: 12345 }));

function newTask(i: number): NewTask {
  return { type: "email.send", queue: i % 4 === 0 ? "mail" : "default", payload, payloadIsJson: true, priority: priorityOf(i), runAtMs: null, maxRetries: 3, leaseMs: 60_000, idempotencyKey: null };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function open(path: string): SqliteStore {
  return openSqliteStore({ path, sync: SYNC, walSyncIntervalMs: 100, flushOn: FLUSH, checkpointIn: CHECKPOINT_IN });
}

async function submitAll(store: SqliteStore, count: number): Promise<number> {
  const start = performance.now();
  for (let base = 0; base < count; base += SUBMIT_BATCH * SUBMIT_IN_FLIGHT) {
    const calls: Promise<unknown>[] = [];
    for (let b = 0; b < SUBMIT_IN_FLIGHT; b++) {
      const from = base + b * SUBMIT_BATCH;
      const n = Math.min(SUBMIT_BATCH, count - from);
      if (n <= 0) break;
      calls.push(store.submit(Array.from({ length: n }, (_, i) => newTask(from + i)), Date.now()));
    }
    await Promise.all(calls);
  }
  return performance.now() - start;
}

interface ThroughputRun {
  submitsPerSec: number;
  /** Submits per second of this process's CPU time (user + system): less sensitive to a shared machine. */
  submitsPerCpuSec: number;
  claimsPerSec: number;
  completesPerSec: number;
  commitP50Ms: number;
  commitP99Ms: number;
  commitMaxMs: number;
  opsPerCommit: number;
  stallMaxMs: number;
  backgroundMaxMs: number;
}

async function throughputRun(): Promise<ThroughputRun> {
  const dir = mkdtempSync(join(tmpdir(), "tq-bench-"));
  const store = open(join(dir, "tasks.db"));
  try {
    const cpuBefore = process.cpuUsage();
    const submitMs = await submitAll(store, TASKS);
    const cpu = process.cpuUsage(cpuBefore);

    const leases: Lease[] = [];
    const claimStart = performance.now();
    for (let guard = 0; leases.length < TASKS && guard < TASKS; guard++) {
      const calls = Array.from({ length: CLAIMS_IN_FLIGHT }, (_, i) =>
        claim(store, { queues: ["default", "mail"], workerId: `w${i}`, max: CLAIM_BATCH, nowMs: Date.now() }),
      );
      for (const got of await Promise.all(calls)) leases.push(...got);
    }
    const claimMs = performance.now() - claimStart;

    const completeStart = performance.now();
    const result = { result: new TextEncoder().encode('{"ok":true}'), resultIsJson: true };
    for (let i = 0; i < leases.length; i += COMPLETES_IN_FLIGHT) {
      await Promise.all(leases.slice(i, i + COMPLETES_IN_FLIGHT).map((l) => complete(store, { id: l.task.id, token: l.token }, result, Date.now())));
    }
    const completeMs = performance.now() - completeStart;
    const stats = store.commitStats();
    return {
      submitsPerSec: (TASKS / submitMs) * 1000,
      submitsPerCpuSec: TASKS / ((cpu.user + cpu.system) / 1e6),
      claimsPerSec: (leases.length / claimMs) * 1000,
      completesPerSec: (leases.length / completeMs) * 1000,
      commitP50Ms: stats.p50Ms,
      commitP99Ms: stats.p99Ms,
      commitMaxMs: stats.maxMs,
      opsPerCommit: stats.ops / Math.max(1, stats.commits),
      stallMaxMs: stats.checkpointStallMaxMs,
      backgroundMaxMs: stats.backgroundCheckpointMaxMs,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Many connections each sending single submits: every request arrives in its own macrotask, as a
 * socket's data callback would, so this shows how many operations one commit really groups.
 */
async function clientsRun(clients: number, total: number): Promise<{ submitsPerSec: number; opsPerCommit: number }> {
  const dir = mkdtempSync(join(tmpdir(), "tq-bench-clients-"));
  const store = open(join(dir, "tasks.db"));
  try {
    const perClient = Math.ceil(total / clients);
    const start = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let i = 0; i < perClient; i++) {
          await new Promise((resolve) => setImmediate(resolve));
          await store.submit([newTask(c * perClient + i)], Date.now());
        }
      }),
    );
    const ms = performance.now() - start;
    const stats = store.commitStats();
    return { submitsPerSec: ((perClient * clients) / ms) * 1000, opsPerCommit: stats.ops / Math.max(1, stats.commits) };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function rssMiB(): number {
  Bun.gc(true);
  return process.memoryUsage().rss / 1024 / 1024;
}

async function pendingAndRecovery(): Promise<{
  baseRssMiB: number;
  rssMiB: number;
  indexMiB: number;
  recoverMs: number[];
  recoveredRssMiB: number;
  dbMiB: number;
  modes: string[];
  afterOpenMs: number[];
}> {
  const dir = mkdtempSync(join(tmpdir(), "tq-bench-1m-"));
  const path = join(dir, "tasks.db");
  try {
    const baseRssMiB = rssMiB();
    let store = open(path);
    await submitAll(store, PENDING);
    if ((await store.pendingCount()) !== PENDING) throw new Error(`expected ${PENDING} pending, have ${(await store.pendingCount())}`);
    const rss = rssMiB();
    const indexMiB = store.indexBytes() / 1024 / 1024;
    await store.close();
    const recoverMs: number[] = [];
    const modes: string[] = [];
    const afterOpenMs: number[] = [];
    let recoveredRssMiB = 0;
    for (let run = 0; run < RUNS; run++) {
      const start = performance.now();
      store = open(path);
      recoverMs.push(performance.now() - start);
      modes.push(store.openChecks.rowsAndIndexes);
      if ((await store.pendingCount()) !== PENDING) throw new Error(`recovered ${(await store.pendingCount())} of ${PENDING}`);
      // Ready to serve means a claim works at once.
      const got = await claim(store, { queues: ["default"], workerId: "w", max: 1, nowMs: Date.now() });
      if (got.length !== 1) throw new Error("claim after recovery found nothing");
      await store.release([{ id: got[0]!.task.id, token: got[0]!.token }], Date.now());
      recoveredRssMiB = rssMiB();
      // A store closed before its checks after open finished makes the next open check first.
      const after = await store.checksAfterOpen;
      if (after !== null) afterOpenMs.push(after.ms);
      await store.close();
    }
    return { baseRssMiB, rssMiB: rss, indexMiB, recoverMs, recoveredRssMiB, dbMiB: statSync(path).size / 1024 / 1024, modes, afterOpenMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number, digits = 0): string => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

if (process.env.BENCH_PHASE === "pending") {
  const m = await pendingAndRecovery();
  console.log(`pending ${fmt(PENDING)}: RSS ${fmt(m.rssMiB, 1)} MiB for the whole process (${fmt(m.baseRssMiB, 1)} MiB before the store opened; typed-array indexes ${fmt(m.indexMiB, 1)} MiB; db file ${fmt(m.dbMiB, 1)} MiB)`);
  console.log(`recover ${fmt(PENDING)} pending (open, checks before serving, load: ready to claim): median ${fmt(median(m.recoverMs))} ms (runs: ${m.recoverMs.map((x, i) => `${fmt(x)} rows and indexes checked ${m.modes[i]}`).join(", ")}); RSS after recovery ${fmt(m.recoveredRssMiB, 1)} MiB`);
  if (m.afterOpenMs.length > 0) console.log(`checks after open (rows and indexes, while serving): median ${fmt(median(m.afterOpenMs))} ms (runs: ${m.afterOpenMs.map((x) => fmt(x)).join(", ")})`);
  process.exit(0);
}

console.log(`engine bench: sync=${SYNC} flush=${FLUSH} checkpoints=${CHECKPOINT_IN} priorities=${PRIORITIES} runs=${RUNS} tasks/run=${TASKS} pending=${PENDING} (bun ${Bun.version}, ${process.platform}/${process.arch})`);
const runs: ThroughputRun[] = [];
for (let i = 0; i < RUNS; i++) {
  const r = await throughputRun();
  runs.push(r);
  console.log(`  run ${i + 1}: submit ${fmt(r.submitsPerSec)}/s (${fmt(r.submitsPerCpuSec)}/CPU-s), claim ${fmt(r.claimsPerSec)}/s, complete ${fmt(r.completesPerSec)}/s, commit p50 ${fmt(r.commitP50Ms, 2)} ms p99 ${fmt(r.commitP99Ms, 2)} ms max ${fmt(r.commitMaxMs, 2)} ms, ${fmt(r.opsPerCommit, 1)} ops/commit, longest checkpoint on the main thread ${fmt(r.stallMaxMs, 2)} ms (worker ${fmt(r.backgroundMaxMs, 2)} ms)`);
}
const pick = (k: keyof ThroughputRun): number => median(runs.map((r) => r[k]));
console.log(`median: submits/s ${fmt(pick("submitsPerSec"))} (batches of ${SUBMIT_BATCH}, ${SUBMIT_IN_FLIGHT} in flight); ${fmt(pick("submitsPerCpuSec"))} per CPU-second`);
console.log(`median: claims/s ${fmt(pick("claimsPerSec"))} (batches of ${CLAIM_BATCH}, ${CLAIMS_IN_FLIGHT} in flight)`);
console.log(`median: completes/s ${fmt(pick("completesPerSec"))} (${COMPLETES_IN_FLIGHT} in flight)`);
console.log(`median: commit latency p50 ${fmt(pick("commitP50Ms"), 2)} ms, p99 ${fmt(pick("commitP99Ms"), 2)} ms, max ${fmt(pick("commitMaxMs"), 2)} ms; longest main-thread checkpoint ${fmt(pick("stallMaxMs"), 2)} ms`);
const CLIENTS = 64;
const single: { submitsPerSec: number; opsPerCommit: number }[] = [];
for (let i = 0; i < RUNS; i++) single.push(await clientsRun(CLIENTS, Math.min(TASKS, 20_000)));
console.log(`median: single submits from ${CLIENTS} clients ${fmt(median(single.map((r) => r.submitsPerSec)))}/s, ${fmt(median(single.map((r) => r.opsPerCommit)), 1)} ops/commit`);
if (PENDING > 0) {
  // A fresh process, so the figure is what a broker holding 1M pending tasks would show.
  const child = Bun.spawnSync([process.execPath, import.meta.path], { env: { ...process.env, BENCH_PHASE: "pending" }, stdout: "inherit", stderr: "inherit" });
  if (child.exitCode !== 0) process.exit(child.exitCode ?? 1);
}
