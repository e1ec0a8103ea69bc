// The options of one peer bench run (`npm run bench:peers -- ...`), parsed and checked: the
// workload parameters shared by both sides, the beanstalkd binlog's fsync setting, and what is
// handed to `tq-broker bench` as is. Parsing only; no I/O.

import { parseCount, parseWorkloads, type WorkloadName } from "../../src/bench/bench-options.ts";
import { defaultWindow } from "../../src/cli/bench-command.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "../../src/cli/parse-args.ts";
import type { BinlogFsync } from "./beanstalkd-server.ts";

/** beanstalkd 1.12's own default for -f: what a user who passes only -b DIR gets. */
export const DEFAULT_BINLOG_FSYNC_MS = 50;

export interface PeersOptions {
  workloads: WorkloadName[];
  n: number;
  payloadBytes: number;
  producers: number;
  concurrency: number;
  batch: number;
  ratePerSec: number;
  seconds: number;
  window: number;
  /** Rounds; each runs tq-broker, beanstalkd with binlog, beanstalkd without, in that order. */
  runs: number;
  /** Passed to tq-broker bench when given; beanstalkd warms up as much as tq-broker's run reports it did. */
  warmup: number | null;
  /** Passed to tq-broker bench when given (else its default). */
  sync: "full" | "interval" | null;
  binlogFsync: BinlogFsync;
  json: boolean;
  /** A compiled tq-broker to bench; null runs src/cli/main.ts with this bun. */
  tqBroker: string | null;
  /** Extra flags for `tq-broker bench` (after `--`), e.g. a consumer mode it offers. */
  tqArgs: string[];
}

const spec: ArgsSpec = {
  flags: {
    workload: { type: "string", valueName: "W1,W2,W3,W4", description: "workloads to run, comma-separated (default all four)" },
    n: { type: "string", valueName: "N", description: "tasks per run of W1/W2/W3 (default 100000); -n N works too" },
    "payload-bytes": { type: "string", valueName: "B", description: "payload (job body) size (default 100)" },
    producers: { type: "string", valueName: "P", description: "producer processes (default 1)" },
    concurrency: { type: "string", valueName: "C", description: "worker lanes: claim loops / beanstalkd connections (default 4)" },
    batch: { type: "string", valueName: "B", description: "tasks per SubmitBatch = puts per write; most tasks per claim = reserves per round (default 100)" },
    rate: { type: "string", valueName: "R", description: "W4 submits per second (default 1000)" },
    seconds: { type: "string", valueName: "S", description: "W4 duration in seconds (default 10)" },
    window: { type: "string", valueName: "W", description: "batches each producer keeps in flight (default as tq-broker bench)" },
    runs: { type: "string", valueName: "K", description: "interleaved rounds per workload (default 3)" },
    warmup: { type: "string", valueName: "N", description: "untimed tasks first on each fresh server (default: tq-broker bench's; beanstalkd gets the same)" },
    sync: { type: "string", valueName: "full|interval", choices: ["full", "interval"], description: "tq-broker's persistence.sync (default: tq-broker bench's, full)" },
    "binlog-fsync": { type: "string", valueName: "MS|never", description: `beanstalkd -f MS (fsync at most every MS ms; 0 = every write) or -F (never) (default ${DEFAULT_BINLOG_FSYNC_MS}, its own default)` },
    "tq-broker": { type: "string", valueName: "FILE", description: "a compiled tq-broker to bench (default: src/cli/main.ts with this bun)" },
    json: { type: "boolean", description: "print one JSON object instead of the tables" },
  },
  positionals: [],
};

export const USAGE = `usage: npm run bench:peers -- [options] [-- flags for tq-broker bench]

Runs tq-broker bench --spawn --json and the same workloads against a private beanstalkd, with its
binlog and without, interleaved run by run, and prints medians, ranges and tq-broker / beanstalkd
ratios. Installs the Debian package beanstalkd when missing (needs root).

options:
${formatFlags(spec.flags)}`;

function parseFsync(text: string): BinlogFsync {
  if (text === "never") return "never";
  return { everyMs: parseCount("binlog-fsync", text, 0, 3_600_000) };
}

/** Throws (a UsageError naming the flag) on a bad value; --help throws HelpRequested. */
export function parsePeersOptions(argv: readonly string[]): PeersOptions {
  // -n is the one short flag, as in tq-broker bench; after `--` everything is tq-broker's.
  const split = argv.indexOf("--");
  const own = (split === -1 ? argv : argv.slice(0, split)).map((a) => (a === "-n" ? "--n" : a.startsWith("-n=") ? `--n=${a.slice(3)}` : a));
  const { strings, booleans } = parseArgs(own, spec);
  const batch = parseCount("batch", strings.batch ?? "100", 1, 10_000);
  const sync = strings.sync ?? null;
  if (sync !== null && sync !== "full" && sync !== "interval") throw new Error(`--sync: expected full or interval, got ${JSON.stringify(sync)}`);
  return {
    workloads: parseWorkloads(strings.workload ?? "W1,W2,W3,W4"),
    n: parseCount("n", strings.n ?? "100000", 1, 100_000_000),
    payloadBytes: parseCount("payload-bytes", strings["payload-bytes"] ?? "100", 0, 1024 * 1024),
    producers: parseCount("producers", strings.producers ?? "1", 1, 64),
    concurrency: parseCount("concurrency", strings.concurrency ?? "4", 1, 1024),
    batch,
    ratePerSec: parseCount("rate", strings.rate ?? "1000", 1, 1_000_000),
    seconds: parseCount("seconds", strings.seconds ?? "10", 1, 3600),
    window: strings.window === undefined ? defaultWindow(batch) : parseCount("window", strings.window, 1, 1024),
    runs: parseCount("runs", strings.runs ?? "3", 1, 100),
    warmup: strings.warmup === undefined ? null : parseCount("warmup", strings.warmup, 0, 10_000_000),
    sync,
    binlogFsync: parseFsync(strings["binlog-fsync"] ?? String(DEFAULT_BINLOG_FSYNC_MS)),
    json: booleans.json === true,
    tqBroker: strings["tq-broker"] ?? null,
    tqArgs: split === -1 ? [] : argv.slice(split + 1),
  };
}

/** The flags that make `tq-broker bench` run `workload` once with these parameters. */
export function tqBenchArgs(opts: PeersOptions, workload: WorkloadName): string[] {
  const args = ["bench", "--spawn", "--json", "--runs", "1", "--workload", workload];
  args.push("-n", String(opts.n), "--payload-bytes", String(opts.payloadBytes), "--producers", String(opts.producers));
  args.push("--concurrency", String(opts.concurrency), "--batch", String(opts.batch), "--window", String(opts.window));
  args.push("--rate", String(opts.ratePerSec), "--seconds", String(opts.seconds));
  if (opts.warmup !== null) args.push("--warmup", String(opts.warmup));
  if (opts.sync !== null) args.push("--sync", opts.sync);
  return [...args, ...opts.tqArgs];
}
