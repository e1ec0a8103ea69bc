// What the broker allocates per task on the submit -> deliver -> complete path, counted by JSC
// cell type: a broker runs in this process (startApp on a temp dir, loopback), the load (the SDK's
// Client and Worker, as users run them) in a child process, so only the broker's cells are
// counted. The collector is off (BUN_JSC_useGC=0, set by re-running itself), so a cell count taken
// after N tasks less the one taken before is what those N tasks allocated; JIT-sunk allocations
// never happen and are rightly not counted. Also prints the broker's CPU per task (this process,
// every thread), which without a collector is a little lower than in service.
// Usage: bun bench/allocations.ts [--tasks 5000] [--warmup 20000] [--sync full|interval] [--shape single|batched] [--gc]
//        [--root DIR] (the broker of another checkout, e.g. an older commit, for an A/B; the load stays this one's)
// (--gc: keep the collector on; cell counts are then meaningless, CPU figures as in service, and
// `bun --cpu-prof-md bench/allocations.ts --gc` profiles the broker alone.)

import { heapStats } from "bun:jsc";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { startApp as StartApp } from "../src/app.ts";
import { Client } from "../src/client/client.ts";
import { Worker } from "../src/client/worker.ts";
import type { loadConfig as LoadConfig } from "../src/config/index.ts";
import type { createLogger as CreateLogger } from "../src/log.ts";

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1]! : fallback;
}

/** The two shapes of load: one task at a time (W4's), and batches drained by a worker (W2's). */
type Shape = "single" | "batched";
const SHAPES: readonly Shape[] = ["single", "batched"];
const PAYLOAD = new Uint8Array(100).fill(0x61);

// ---- the load (child process) ----------------------------------------------------------

/** Runs `count` tasks of `shape` through the broker at `url`, as SDK users would, then exits. */
async function load(url: string, shape: Shape, count: number): Promise<void> {
  const queue = `alloc-${shape}-${process.pid}`;
  const client = new Client({ url, env: {} });
  const worker = new Worker({ url, env: {}, queues: [queue], handleSignals: false });
  let completed = 0;
  let wake: () => void = () => {};
  worker.register("noop", () => {});
  worker.on("completed", () => {
    completed++;
    wake();
  });
  await worker.start();
  const waitFor = (n: number): Promise<void> => new Promise<void>((resolve) => (wake = () => completed >= n && resolve())).then(() => undefined);
  if (shape === "single") {
    // One task in flight: submitted, pushed, completed, and only then the next.
    for (let i = 1; i <= count; i++) {
      const done = waitFor(i);
      await client.submit("noop", PAYLOAD, { queue });
      await done;
    }
  } else {
    for (let at = 0; at < count; at += 1000) {
      const n = Math.min(1000, count - at);
      const done = waitFor(at + n);
      await client.submitMany(Array.from({ length: n }, () => ({ type: "noop", payload: PAYLOAD, queue })));
      await done;
    }
  }
  await worker.stop();
  await client.close();
}

// ---- the broker and the counting (this process) ----------------------------------------

function cells(): Record<string, number> {
  return { ...heapStats().objectTypeCounts };
}

/** Cells allocated between two counts, per task, the largest first. */
function perTask(before: Record<string, number>, after: Record<string, number>, tasks: number): [string, number][] {
  return Object.entries(after)
    .map(([type, n]): [string, number] => [type, (n - (before[type] ?? 0)) / tasks])
    .filter(([, n]) => n >= 0.05)
    .sort((a, b) => b[1] - a[1]);
}

async function runLoad(url: string, shape: Shape, count: number): Promise<void> {
  const child = Bun.spawn([process.execPath, import.meta.path, "--load", url, "--shape", shape, "--tasks", String(count)], {
    stdout: "inherit",
    stderr: "inherit",
    // The load counts nothing: it runs with the collector on.
    env: { ...process.env, BUN_JSC_useGC: "1" },
  });
  const code = await child.exited;
  if (code !== 0) throw new Error(`the load (${shape}) exited with ${code}`);
}

async function main(): Promise<void> {
  const tasks = Number(arg("tasks", "5000"));
  const warmup = Number(arg("warmup", "20000"));
  const sync = arg("sync", "full");
  const root = arg("root", join(import.meta.dir, ".."));
  const { startApp } = (await import(join(root, "src/app.ts"))) as { startApp: typeof StartApp };
  const { loadConfig } = (await import(join(root, "src/config/index.ts"))) as { loadConfig: typeof LoadConfig };
  const { createLogger } = (await import(join(root, "src/log.ts"))) as { createLogger: typeof CreateLogger };
  const dir = mkdtempSync(join(tmpdir(), "tq-alloc-"));
  const config = loadConfig({
    flags: {
      "broker.host": "127.0.0.1",
      "broker.port": 0,
      "api.rest_port": 0,
      "monitoring.prometheus_port": 0,
      "persistence.data_dir": dir,
      "persistence.sync": sync,
      "monitoring.log_level": "error",
    },
  });
  const app = await startApp(config, createLogger({ level: "error", json: true }));
  const url = `tq://${app.addresses["broker.port"]}`;
  try {
    const gc = process.argv.includes("--gc") ? "collector ON: cell counts do not add up" : "collector off";
    console.log(`broker (${root}) allocations per task, sync ${sync}, ${tasks} tasks per shape after ${warmup} of each to warm up (JSC cells; ${gc})`);
    const only = arg("shape", "");
    const shapes = SHAPES.filter((shape) => only === "" || shape === only);
    for (const shape of shapes) await runLoad(url, shape, warmup);
    for (const shape of shapes) {
      const before = cells();
      const extraBefore = heapStats().extraMemorySize;
      const cpuBefore = process.cpuUsage();
      await runLoad(url, shape, tasks);
      const cpu = process.cpuUsage(cpuBefore);
      const extra = (heapStats().extraMemorySize - extraBefore) / tasks;
      const rows = perTask(before, cells(), tasks);
      const total = rows.reduce((sum, [, n]) => sum + n, 0);
      console.log(`\n${shape}: ${total.toFixed(1)} cells per task, ${Math.round(extra)} bytes outside the heap per task, broker CPU ${((cpu.user + cpu.system) / tasks).toFixed(0)} us per task`);
      for (const [type, n] of rows.slice(0, 15)) console.log(`  ${n.toFixed(2).padStart(8)}  ${type}`);
    }
  } finally {
    await app.stop("done");
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes("--load")) {
  await load(arg("load", ""), arg("shape", "single") as Shape, Number(arg("tasks", "1000")));
  process.exit(0);
} else if (process.env.BUN_JSC_useGC !== "0" && !process.argv.includes("--gc")) {
  // Counting needs the collector off from the start: run again with it off.
  const child = Bun.spawn([process.execPath, import.meta.path, ...process.argv.slice(2)], { stdout: "inherit", stderr: "inherit", env: { ...process.env, BUN_JSC_useGC: "0" } });
  process.exit(await child.exited);
} else {
  await main();
}
