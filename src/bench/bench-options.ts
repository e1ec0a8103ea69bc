// The options of one `tq-broker bench` invocation, validated, and the workload table (names and
// one-line meanings). Types and parsing of values only; no I/O.

export const WORKLOADS = {
  W1: "enqueue: producers submit N tasks as fast as the protocol allows",
  W2: "drain: N tasks pre-enqueued (untimed), workers claim -> no-op -> complete",
  W3: "mixed: producers and workers at once, N tasks end to end",
  W4: "latency: one submit at a time at R/s for S s to idle workers; submit -> handler start",
} as const;
export type WorkloadName = keyof typeof WORKLOADS;

export type SyncMode = "full" | "interval";

/** Where a spawned broker keeps its tasks: its own SQLite file, or a PostgreSQL server the bench starts. */
export const BACKENDS = ["sqlite", "postgres"] as const;
export type Backend = (typeof BACKENDS)[number];

/** The front door the load goes through: the binary TCP protocol, or gRPC (W1-W3). */
export const FRONTS = ["tcp", "grpc"] as const;
export type Front = (typeof FRONTS)[number];
/**
 * Who consumes W2-W4's tasks: "sdk", the SDK's Worker with the settings `tq-broker worker` has by
 * default (what a deployment runs); "raw", a hand-written pipelined claimer no user has (--raw:
 * C connections, claims of B, results sent without waiting), which shows the broker's ceiling.
 */
export type Consumer = "sdk" | "raw";

export interface BenchOptions {
  /** Broker to load: given by --url, or spawned (then host/port are filled in per run). */
  target: { kind: "url"; host: string; port: number } | { kind: "spawn"; sync: SyncMode; backend: Backend; brokers: number };
  workloads: WorkloadName[];
  /** Default tcp. grpc needs a spawned broker (its gRPC port is read from its start-up lines). */
  front: Front;
  consumer: Consumer;
  n: number;
  payloadBytes: number;
  producers: number;
  /** The SDK Worker's concurrency, or the raw claimer's claim loops (connections). */
  concurrency: number;
  /** The SDK Worker's prefetch (its subscription's credits); null = its default, an adaptive window. */
  prefetch: number | null;
  batch: number;
  ratePerSec: number;
  seconds: number;
  /** Repetitions of each workload; figures are the median with the range. */
  runs: number;
  /** SubmitBatch frames each producer keeps in flight. */
  window: number;
  /** Spawned broker only: bun --cpu-prof-md output dir (from source only). */
  cpuProfDir: string | null;
  /** Spawned broker only: after W1, restart the broker on its data and time until it serves. */
  restart: boolean;
  /**
   * Spawned broker only: tasks of the same workload run untimed on each fresh broker before its
   * timed run (W4: at up to 10,000/s), so the timed run meets compiled code; 0 = a cold broker.
   * null (not given): 100,000 for W1-W3, none for W4, whose broker is fresh as a restarted one is.
   */
  warmup: number | null;
}

/** Accepts tq://host:port, tcp://host:port and bare host:port. */
export function parseUrl(text: string): { host: string; port: number } {
  const match = /^(?:(?:tq|tcp):\/\/)?(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(text);
  const port = match === null ? Number.NaN : Number(match[2]);
  if (match === null || port < 1 || port > 65535) throw new Error(`--url: expected tq://HOST:PORT, got ${JSON.stringify(text)}`);
  return { host: match[1]!.replace(/^\[|\]$/g, ""), port };
}

export function parseWorkloads(text: string): WorkloadName[] {
  const names = text.split(",").map((s) => s.trim().toUpperCase());
  const out: WorkloadName[] = [];
  for (const name of names) {
    if (!(name in WORKLOADS)) throw new Error(`--workload: unknown workload ${JSON.stringify(name)} (known: ${Object.keys(WORKLOADS).join(", ")})`);
    if (!out.includes(name as WorkloadName)) out.push(name as WorkloadName);
  }
  return out;
}

/** A whole number in [min, max], named after its flag in the error. */
export function parseCount(flag: string, text: string, min: number, max: number): number {
  const value = Number(text.replace(/_/g, ""));
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`--${flag}: expected a whole number ${min}-${max}, got ${JSON.stringify(text)}`);
  return value;
}

/** Untimed warm-up tasks before a timed run of `workload` when --warmup was not given. */
export const DEFAULT_WARMUP = 100_000;

/** The warm-up a timed run of `workload` gets: --warmup as given, else the default (none for W4). */
export function warmupFor(workload: WorkloadName, warmup: number | null): number {
  if (warmup !== null) return warmup;
  return workload === "W4" ? 0 : DEFAULT_WARMUP;
}
