// What docs/cluster.md, docs/storage-postgres.md and docs/configuration.md promise about brokers
// on PostgreSQL, checked on real `serve` processes (spawned from source) and in-process brokers on
// loopback sockets, on the run's test PostgreSQL server: the node id on every log line, a clear
// error when the database cannot be reached at start, a banner that describes the PostgreSQL
// store, the schema name's limit, the shared-node-id warning (two live brokers, not a restart
// after a crash), and a waiting task's diagnosis that says it sees only its broker's workers.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnBroker } from "../helpers/broker-process.ts";
import { startBroker } from "../helpers/broker.ts";
import { runCli, spawnCliOnTerminal } from "../helpers/cli.ts";
import { SQL } from "bun";
import { dropSchema, freshSchema, postgresBrokerConfig, testPostgres } from "../helpers/postgres.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { expectKind, spec, submit } from "../helpers/wire.ts";

const schema = freshSchema("docs");
const root = mkdtempSync(join(tmpdir(), "tq-cluster-docs-"));
let url = "";

beforeAll(async () => {
  url = (await testPostgres()).url;
}, 120_000);

afterAll(async () => {
  await dropSchema(schema);
  rmSync(root, { recursive: true, force: true });
});

function postgresEnv(nodeId: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    TQ_PERSISTENCE_BACKEND: "postgres",
    TQ_PERSISTENCE_POSTGRES_URL: url,
    TQ_PERSISTENCE_POSTGRES_SCHEMA: schema,
    TQ_PERSISTENCE_POSTGRES_POOL_SIZE: "3",
    TQ_RAFT_NODE_ID: nodeId,
    TQ_MONITORING_JSON_LOGGING: "true",
    ...overrides,
  };
}

describe("serve with persistence.backend: postgres", () => {
  test("every log line names the node (raft.node_id), the start and stop lines of serve included", async () => {
    const broker = await spawnBroker({ dataDir: join(root, "logs"), env: postgresEnv("docs-logs") });
    broker.proc.kill("SIGTERM");
    expect(await broker.exited).toBe(0);
    const records = broker
      .output()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { msg: string; node?: string });
    const msgs = records.map((r) => r.msg);
    expect(msgs).toContain("tq-broker started");
    // The start line names the store (password masked), not the data dir a PostgreSQL broker leaves unused.
    const started = records.find((r) => r.msg === "tq-broker started") as unknown as Record<string, unknown>;
    expect(started.data_dir).toBeUndefined();
    expect(String(started.store)).toMatch(/^postgres:\/\/[^:]+:\*\*\*@127\.0\.0\.1:\d+\//);
    expect(started.schema).toBeString();
    // A fresh schema is migrated at start: news, not a warning.
    expect((records as unknown as { msg: string; level: string }[]).filter((r) => r.msg === "schema migrated").map((r) => r.level)).toEqual(["info"]);
    expect(msgs).toContain("listening");
    expect(msgs).toContain("stopped");
    expect(records.filter((r) => r.node !== "docs-logs").map((r) => r.msg)).toEqual([]);
  }, 60_000);

  test("a database that cannot be reached at start: exit 1 with an error naming the URL (password masked) and schema, not a crash", async () => {
    const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = closed.port;
    closed.stop(true);
    const cwd = mkdtempSync(join(root, "down-"));
    const env = postgresEnv("docs-down", {
      TQ_PERSISTENCE_POSTGRES_URL: `postgres://tq:not-this-secret@127.0.0.1:${port}/tq`,
      TQ_BROKER_HOST: "127.0.0.1",
      TQ_BROKER_PORT: "0",
      TQ_API_REST_PORT: "0",
      TQ_API_GRPC_PORT: "0",
      TQ_MONITORING_PROMETHEUS_PORT: "0",
    });
    const r = await runCli(["serve", "--data-dir", join(cwd, "data")], { cwd, env }, 40_000);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`cannot open the PostgreSQL store at postgres://tq:***@127.0.0.1:${port}/tq (schema ${schema})`);
    expect(r.stderr).not.toContain("unexpected error");
    expect(r.stdout + r.stderr).not.toContain("not-this-secret");
    expect(r.stdout).not.toContain('"msg":"listening"');
  }, 60_000);

  test("on a terminal the banner names the PostgreSQL store (password masked), schema, node and synchronous_commit, not a data dir or fsync", async () => {
    const cwd = mkdtempSync(join(root, "banner-"));
    const dataDir = join(cwd, "unused-data");
    const env = postgresEnv("docs-banner", { TQ_BROKER_HOST: "127.0.0.1", TQ_API_REST_PORT: "0", TQ_API_GRPC_PORT: "0", TQ_MONITORING_PROMETHEUS_PORT: "0", NO_COLOR: "1" });
    const serve = spawnCliOnTerminal(["serve", "--port", "0", "--data-dir", dataDir], { cwd, env });
    try {
      await serve.waitForOutput('"key":"monitoring.prometheus_port"', 30_000);
    } finally {
      expect(await serve.stop("SIGTERM")).toBe(0);
    }
    const text = serve.output();
    const masked = url.replace(/:[^:@/]*@/, ":***@");
    expect(text).toMatch(new RegExp(`^  store\\s+${masked.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(schema ${schema}, node docs-banner\\)\r?$`, "m"));
    expect(text).toMatch(/^ {2}durability\s+synchronous_commit on \(each acknowledged task is in PostgreSQL's WAL first\)\r?$/m);
    expect(text).not.toContain("data dir");
    expect(text).not.toContain("fsynced");
    expect(text).not.toContain(new URL(url).password);
  }, 60_000);
});

describe("persistence.postgres.schema", () => {
  test("a name too long for its notification channel (tq_events_<schema>, 63 bytes) is a config error before anything is created; 53 characters work", async () => {
    const cwd = mkdtempSync(join(root, "schema-"));
    const tooLong = `docs_${"x".repeat(49)}`; // 54 characters
    const env = postgresEnv("docs-long", { TQ_PERSISTENCE_POSTGRES_SCHEMA: tooLong, TQ_BROKER_HOST: "127.0.0.1", TQ_BROKER_PORT: "0", TQ_API_REST_PORT: "0", TQ_API_GRPC_PORT: "0", TQ_MONITORING_PROMETHEUS_PORT: "0" });
    const refused = await runCli(["serve", "--data-dir", join(cwd, "data")], { cwd, env }, 40_000);
    expect(refused.exitCode).toBe(78);
    expect(refused.stderr).toContain("persistence.postgres.schema: expected a schema name: lowercase letters, digits and _, starting with a letter or _, at most 53 characters");
    const sql = new SQL(url);
    try {
      expect(await sql`SELECT nspname FROM pg_namespace WHERE nspname = ${tooLong}`).toEqual([]);
    } finally {
      await sql.close();
    }
    const longest = `docs_${"y".repeat(48)}`; // 53 characters
    const broker = await spawnBroker({ dataDir: join(cwd, "ok"), env: postgresEnv("docs-longest", { TQ_PERSISTENCE_POSTGRES_SCHEMA: longest }) });
    try {
      const conn = await RawConn.connect(broker.port);
      expect(await submit(conn, spec("fits", { queue: "long-schema" }))).toBeString();
      conn.close();
    } finally {
      broker.proc.kill("SIGTERM");
      expect(await broker.exited).toBe(0);
      await dropSchema(longest);
    }
  }, 60_000);
});

describe("raft.node_id shared by two brokers", () => {
  const NODE_WARNING = "another broker is running with this node id";

  test("two live brokers with one node id both warn, at their next sign of life (here a /readyz)", async () => {
    const linesA: string[] = [];
    const linesB: string[] = [];
    const a = await startBroker(await postgresBrokerConfig(schema, "docs-twin"), undefined, { logSink: (l) => linesA.push(l) });
    const b = await startBroker(await postgresBrokerConfig(schema, "docs-twin"), undefined, { logSink: (l) => linesB.push(l) });
    try {
      expect((await fetch(`http://127.0.0.1:${a.httpPort}/readyz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${b.httpPort}/readyz`)).status).toBe(200);
      expect(linesA.filter((l) => l.includes(NODE_WARNING)).length).toBe(1);
      expect(linesB.filter((l) => l.includes(NODE_WARNING)).length).toBe(1);
    } finally {
      await a.stop();
      await b.stop();
    }
  }, 60_000);

  test("a broker started again at once after kill -9 (as systemd does) does not warn about its own earlier run", async () => {
    const env = postgresEnv("docs-crash");
    const first = await spawnBroker({ dataDir: join(root, "crash1"), env });
    first.proc.kill("SIGKILL");
    await first.exited;
    const again = await spawnBroker({ dataDir: join(root, "crash2"), env });
    try {
      const rest = /"msg":"listening","key":"api\.rest_port","address":"[^"]*:(\d+)"/.exec(again.output());
      expect(rest).not.toBeNull();
      for (let i = 0; i < 2; i++) expect((await fetch(`http://127.0.0.1:${rest![1]}/readyz`)).status).toBe(200);
    } finally {
      again.proc.kill("SIGTERM");
      expect(await again.exited).toBe(0);
    }
    expect(again.output()).toContain('"msg":"store opened"');
    expect(again.output()).not.toContain("node id");
  }, 60_000);
});

describe("a cluster's REST API", () => {
  test("a waiting task's diagnosis on a broker its queue's worker is not connected to says it sees only its own workers", async () => {
    const a = await startBroker(await postgresBrokerConfig(schema, "docs-a"));
    const b = await startBroker(await postgresBrokerConfig(schema, "docs-b"));
    const conns: RawConn[] = [];
    try {
      const onB = await RawConn.connect(b.port);
      conns.push(onB);
      const registered = await onB.call({ kind: "RegisterWorker", workerId: "docs-idle", hostname: "h", pid: 1, queues: ["docs-idle-q"], concurrency: 1, version: "t", labels: [] });
      expectKind(registered, "Registered");
      const onA = await RawConn.connect(a.port);
      conns.push(onA);
      const id = await submit(onA, spec("job", { queue: "docs-idle-q" }));
      const inspect = async (port: number): Promise<{ code: string; message: string }[]> =>
        ((await (await fetch(`http://127.0.0.1:${port}/api/v1/tasks/${id}/inspect`)).json()) as { waiting: { code: string; message: string }[] }).waiting;
      // B, where the worker is connected: it takes the task next.
      expect((await inspect(b.httpPort)).map((w) => w.code)).toEqual(["next"]);
      // A sees none of B's workers: its no_worker must not read as "nobody serves this queue".
      const onAView = await inspect(a.httpPort);
      expect(onAView.map((w) => w.code)).toEqual(["no_worker"]);
      expect(onAView[0]!.message).toBe('No live worker connected to this broker serves queue "docs-idle-q" (workers connected to other brokers of the cluster are not seen here).');
    } finally {
      for (const conn of conns) conn.close();
      await a.stop();
      await b.stop();
    }
  }, 60_000);
});
