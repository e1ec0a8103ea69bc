// spawnBroker: `tq-broker serve` as a child process on a temp data dir and a free loopback port,
// for `bench --spawn`. Learns the address from the broker's "listening" log line, stops it by PID
// with SIGTERM (SIGKILL only past a deadline) and deletes the temp dir. Measures nothing itself.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { childEnv as runtimeEnv, selfCommand } from "./self-command.ts";
import { drainLines, withDeadline } from "./stream-lines.ts";

const START_DEADLINE_MS = 60_000;
const STOP_DEADLINE_MS = 30_000;
/** Log lines kept for the error message when the broker fails to start or dies. */
const LOG_TAIL_LINES = 30;

export interface SpawnBrokerOptions {
  sync: "full" | "interval";
  /** Pending tasks the broker accepts before QueueFull; the bench raises it above -n. */
  queueDepthThreshold: number;
  /** broker.max_batch_claim; null keeps the broker's default. */
  maxBatchClaim: number | null;
  /** Reuse this data dir (restart measurement); default a fresh temp dir. */
  dataDir?: string;
  /** Arguments for bun before the entry, e.g. --cpu-prof-md (from source only). */
  runtimeArgs?: readonly string[];
  /** Wait for the gRPC listener too, and report its port (bench --front grpc). */
  grpc?: boolean;
  /** Config overrides as TQ_<SECTION>_<KEY> variables (bench --backend postgres: the database and node id). */
  env?: Readonly<Record<string, string>>;
}

export interface SpawnedBroker {
  readonly pid: number;
  readonly host: string;
  readonly port: number;
  /** The gRPC port, when asked for (SpawnBrokerOptions.grpc); else 0. */
  readonly grpcPort: number;
  readonly dataDir: string;
  /** ms from spawn to the "listening" line. */
  readonly startMs: number;
  /** SIGTERM, wait for exit; deletes the data dir unless keepData. Returns the exit code. */
  stop(options?: { keepData?: boolean }): Promise<number>;
}

/** Env for the child: the caller's env minus TQ_* (a user's broker settings must not skew a bench). */
function childEnv(options: SpawnBrokerOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("TQ_")) env[k] = v;
  return {
    ...runtimeEnv(env),
    TQ_BROKER_HOST: "127.0.0.1",
    TQ_API_REST_PORT: "0", TQ_API_GRPC_PORT: "0",
    TQ_MONITORING_PROMETHEUS_PORT: "0",
    TQ_MONITORING_LOG_LEVEL: "info",
    TQ_MONITORING_JSON_LOGGING: "true",
    TQ_PERSISTENCE_SYNC: options.sync,
    TQ_BROKER_QUEUE_DEPTH_THRESHOLD: String(options.queueDepthThreshold),
    ...(options.maxBatchClaim === null ? {} : { TQ_BROKER_MAX_BATCH_CLAIM: String(options.maxBatchClaim) }),
    ...options.env,
  };
}

export async function spawnBroker(options: SpawnBrokerOptions): Promise<SpawnedBroker> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "tq-bench-"));
  const t0 = performance.now();
  const proc = Bun.spawn([...selfCommand(options.runtimeArgs), "serve", "--port", "0", "--data-dir", dataDir], {
    cwd: dataDir,
    env: childEnv(options),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const tail: string[] = [];
  const remember = (line: string): void => {
    tail.push(line);
    if (tail.length > LOG_TAIL_LINES) tail.shift();
  };
  void drainLines(proc.stderr, remember);

  let address: string;
  const seen = new Map<string, string>();
  try {
    address = await withDeadline(
      readLines(proc.stdout, (line) => {
        remember(line);
        const listening = listeningAddress(line);
        if (listening !== null) seen.set(listening.key, listening.address);
        return seen.has("broker.port") && (!options.grpc || seen.has("api.grpc_port")) ? seen.get("broker.port")! : null;
      }),
      START_DEADLINE_MS,
      "the broker did not log its listening address",
    );
  } catch (err) {
    proc.kill("SIGKILL");
    await proc.exited;
    if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`${err instanceof Error ? err.message : String(err)}; its last log lines:\n${tail.join("\n")}`);
  }
  const startMs = performance.now() - t0;
  const colon = address.lastIndexOf(":");

  let stopping: Promise<number> | null = null;
  return {
    pid: proc.pid,
    host: address.slice(0, colon),
    port: Number(address.slice(colon + 1)),
    grpcPort: Number(seen.get("api.grpc_port")?.slice(seen.get("api.grpc_port")!.lastIndexOf(":") + 1) ?? 0),
    dataDir,
    startMs,
    stop({ keepData = false } = {}) {
      stopping ??= (async () => {
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_DEADLINE_MS);
        const code = await proc.exited;
        clearTimeout(timer);
        if (!keepData) rmSync(dataDir, { recursive: true, force: true });
        return code;
      })();
      return stopping;
    },
  };
}

/** The key and address of a `{"msg":"listening","key":"broker.port","address":"127.0.0.1:N"}` log line. */
function listeningAddress(line: string): { key: string; address: string } | null {
  if (!line.includes('"listening"')) return null;
  try {
    const entry = JSON.parse(line) as { msg?: unknown; key?: unknown; address?: unknown };
    return entry.msg === "listening" && typeof entry.key === "string" && typeof entry.address === "string" ? { key: entry.key, address: entry.address } : null;
  } catch {
    return null;
  }
}

/**
 * Reads lines until `pick` returns a value; the rest of the stream keeps being drained (a full
 * pipe would block the broker's logging) but is ignored.
 */
async function readLines<T>(stream: ReadableStream<Uint8Array>, pick: (line: string) => T | null): Promise<T> {
  let found: T | null = null;
  let resolveFound: (value: T) => void = () => {};
  const result = new Promise<T>((resolve, reject) => {
    resolveFound = resolve;
    void drainLines(stream, (line) => {
      if (found !== null) return;
      found = pick(line);
      if (found !== null) resolveFound(found);
    }).then(() => {
      if (found === null) reject(new Error("the broker exited before it was listening"));
    });
  });
  return result;
}
