// `tq-broker migrate` through the real CLI: a real SQLite broker fills its data dir (pending,
// scheduled, a failed run awaiting retry, a completed task, a task running when it stops), the
// command refuses while that broker runs, copies everything into a real PostgreSQL once it is
// stopped, and a broker on PostgreSQL then serves the very same tasks: ids, keys, priorities,
// run-at, attempts, results. A second run copies nothing twice.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import { Client } from "../../src/client/client.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { runCli } from "../helpers/cli.ts";
import { dropSchema, freshSchema, postgresBrokerConfig, testPostgres } from "../helpers/postgres.ts";

const schema = freshSchema("migrate");
const dataDir = mkdtempSync(join(tmpdir(), "tq-migrate-"));
let pgUrl = "";
const brokers: TestBroker[] = [];
const clients: Client[] = [];

function client(port: number): Client {
  const c = new Client({ url: `tq://127.0.0.1:${port}`, env: {} });
  clients.push(c);
  return c;
}

function migrate(...extra: string[]) {
  return runCli(["migrate", "--data-dir", dataDir, "--postgres-url", pgUrl, "--schema", schema, ...extra], { cwd: tmpdir() }, 60_000);
}

const ids: Record<string, string> = {};
let runAtMs = 0;

beforeAll(async () => {
  pgUrl = (await testPostgres()).url;
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close();
  for (const b of brokers) await b.stop();
  await dropSchema(schema);
  rmSync(dataDir, { recursive: true, force: true });
});

describe("tq-broker migrate", () => {
  let sqlite: TestBroker;

  test("refuses while the SQLite broker runs on the data dir, naming it; writes nothing", async () => {
    sqlite = await startBroker({ "broker.retry_base_delay_ms": 3_600_000 }, dataDir);
    const c = client(sqlite.port);
    ids.high = (await c.submit("mail", { n: 1 }, { queue: "m", priority: "high", idempotencyKey: "key-high" })).id;
    ids.low = (await c.submit("mail", { n: 2 }, { queue: "m", priority: 7 })).id;
    runAtMs = Date.now() + 3_600_000;
    ids.later = (await c.submit("report", null, { queue: "m", runAt: runAtMs, maxRetries: 9 })).id;
    // One run failed (awaiting its retry, an hour off), one completed with a result.
    ids.failed = (await c.submit("flaky", "f", { queue: "f", maxRetries: 3 })).id;
    ids.done = (await c.submit("sum", [1, 2], { queue: "d", idempotencyKey: "key-done" })).id;
    const claimOne = async (queue: string) => {
      const res = await c.request({ kind: "ClaimTask", queues: [queue], max: 1, waitMs: 0 });
      if (res.kind !== "Claimed" || res.tasks.length !== 1) throw new Error(`nothing claimed from ${queue}`);
      return res.tasks[0]!;
    };
    const f = await claimOne("f");
    await c.request({ kind: "TaskResult", id: f.id, token: f.token, outcome: "failed", resultIsJson: false, result: new Uint8Array(), error: "boom" });
    const d = await claimOne("d");
    await c.request({ kind: "TaskResult", id: d.id, token: d.token, outcome: "completed", resultIsJson: true, result: new TextEncoder().encode("3"), error: "" });
    // Running when the broker stops: its lease ends with the broker.
    ids.running = (await c.submit("long", null, { queue: "r" })).id;
    await claimOne("r");
    expect((await c.status(ids.failed)).status).toBe("failed");
    // A paused queue stays paused in the cluster.
    await sqlite.app.broker.pause("d");

    const refused = await migrate();
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("in use by another tq-broker");
    expect(refused.stderr).toContain(`pid ${process.pid}`);
    const sql = new SQL(pgUrl, { max: 1 });
    const [found] = (await sql`SELECT to_regclass(${`${schema}.tasks`}) IS NOT NULL AS present`) as { present: boolean }[];
    await sql.close();
    expect(found!.present).toBe(false);
    await sqlite.stopKeepData();
  }, 60_000);

  test("copies every task into PostgreSQL, where a broker serves them with ids, keys, priorities, run-at, attempts and results kept", async () => {
    const out = await migrate();
    expect(out.stderr).toBe("");
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toContain("copied 6 tasks");
    expect(out.stdout).toContain("3 pending, 1 scheduled, 1 failed, 1 completed, 0 dead, 0 cancelled");
    expect(out.stdout).toContain("run history entries: 1; paused queues: 1");

    const pg = await startBroker(await postgresBrokerConfig(schema, "after-migrate"));
    brokers.push(pg);
    const c = client(pg.port);
    const high = await c.status(ids.high!);
    expect([high.status, high.priority, high.idempotencyKey, high.queue, high.payload]).toEqual(["pending", 255, "key-high", "m", { n: 1 }]);
    const later = await c.status(ids.later!);
    expect([later.status, later.runAtMs, later.maxRetries]).toEqual(["scheduled", runAtMs, 9]);
    const failed = await c.status(ids.failed!);
    expect([failed.status, failed.attempts]).toEqual(["failed", 1]);
    expect(failed.error).toContain("boom");
    expect(await c.result(ids.done!, { wait: 1000 })).toBe(3);
    expect((await c.status(ids.running!)).status).toBe("pending");
    // The idempotency key holds in the cluster: the same key answers with the migrated task.
    const again = await c.submit("mail", { n: 1 }, { queue: "m", idempotencyKey: "key-high" });
    expect([again.id, again.duplicate]).toEqual([ids.high!, true]);
    // Priority order survives: the high task first, then priority 7.
    const res = await c.request({ kind: "ClaimTask", queues: ["m"], max: 2, waitMs: 0 });
    expect(res.kind === "Claimed" && res.tasks.map((t) => t.id)).toEqual([ids.high!, ids.low!]);
    expect((await pg.app.broker.stats()).pausedQueues).toEqual(["d"]);
  }, 60_000);

  test("a second run copies nothing twice and says so", async () => {
    const out = await migrate("--json");
    expect(out.exitCode).toBe(0);
    const report = JSON.parse(out.stdout) as { copied: Record<string, number>; alreadyThere: number };
    expect(report.copied).toEqual({});
    expect(report.alreadyThere).toBe(6);
  }, 60_000);

  test("--unfinished-only leaves completed, dead and cancelled tasks out", async () => {
    const other = freshSchema("migrate_open");
    try {
      const out = await runCli(["migrate", "--data-dir", dataDir, "--postgres-url", pgUrl, "--schema", other, "--unfinished-only", "--json"], { cwd: tmpdir() }, 60_000);
      expect(out.exitCode).toBe(0);
      const report = JSON.parse(out.stdout) as { copied: Record<string, number>; finishedSkipped: number };
      expect(report.copied).toEqual({ pending: 3, scheduled: 1, failed: 1 });
      expect(report.finishedSkipped).toBe(1);
    } finally {
      await dropSchema(other);
    }
  }, 60_000);

  test("a dir without a broker's database is refused by name, and no PostgreSQL is a usage error", async () => {
    const empty = mkdtempSync(join(tmpdir(), "tq-migrate-empty-"));
    try {
      const out = await runCli(["migrate", "--data-dir", empty, "--postgres-url", pgUrl, "--schema", schema], { cwd: tmpdir() });
      expect(out.exitCode).toBe(1);
      expect(out.stderr).toContain(`no tq.db in ${empty}`);
      const noUrl = await runCli(["migrate", "--data-dir", empty], { cwd: tmpdir() });
      expect(noUrl.exitCode).toBe(64);
      expect(noUrl.stderr).toContain("--postgres-url");
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
