// The PostgreSQL store beyond the shared contract: its sessions' settings, migrations when two
// brokers start at once (and a schema newer than the broker), claims walking the ready index on a
// table without statistics, group commit batching, notification
// payloads past PostgreSQL's 8000-byte limit, and backpressure's view of another broker's work.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import type { TaskEnd } from "../../src/store/store.ts";
import { task } from "../contract/store.contract.ts";
import { claim, complete } from "../helpers/store-ops.ts";
import { dropSchema, freshSchema, testPostgres } from "../helpers/postgres.ts";
import { eventually, sleep } from "../helpers/wire.ts";

const schemas: string[] = [];
const stores: PostgresStore[] = [];

async function open(schema: string, nodeId: string, extra: Partial<Parameters<typeof openPostgresStore>[0]> = {}): Promise<PostgresStore> {
  const { url } = await testPostgres();
  const store = await openPostgresStore({ url, schema, nodeId, poolSize: 6, synchronousCommit: true, ...extra });
  stores.push(store);
  return store;
}

function schema(prefix: string): string {
  const name = freshSchema(prefix);
  schemas.push(name);
  return name;
}

// The server starts once for the run, with its own time limit (initdb takes seconds under load).
beforeAll(() => testPostgres(), 120_000);

afterAll(async () => {
  for (const s of stores) await s.close().catch(() => undefined);
  for (const s of schemas) await dropSchema(s);
});

describe("PostgreSQL store", () => {
  test("sessions run with the schema, synchronous_commit as configured, and a limit on idling inside a transaction", async () => {
    const { url } = await testPostgres();
    const name = schema("session");
    const store = await open(name, "s1", { synchronousCommit: false });
    // Another session sees the store's connections by their application name.
    const sql = new SQL(url, { max: 1 });
    try {
      const [seen] = (await sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'tq-broker s1'`) as { n: number }[];
      expect(seen!.n).toBeGreaterThan(0);
    } finally {
      await sql.close();
    }
    // A session's settings are its own to read: through the store's pool.
    const pool = (store as unknown as { sql: SQL }).sql;
    const [settings] = (await pool`
      SELECT current_setting('search_path') AS search_path, current_setting('synchronous_commit') AS sync,
             current_setting('idle_in_transaction_session_timeout') AS idle`) as { search_path: string; sync: string; idle: string }[];
    expect(settings).toEqual({ search_path: name, sync: "off", idle: "15s" });
  });

  test("two brokers starting at once on a fresh schema migrate it once; a schema newer than the broker is refused", async () => {
    const name = schema("migrate");
    const [x, y] = await Promise.all([open(name, "m1"), open(name, "m2")]);
    const [out] = await x.submit([task()], Date.now());
    expect((await y.get(out!.id))?.status).toBe("pending");
    const { url } = await testPostgres();
    const sql = new SQL(url, { max: 1 });
    try {
      const versions = (await sql.unsafe(`SELECT value FROM "${name}".meta WHERE key = 'schema_version'`)) as { value: string }[];
      expect(versions).toEqual([{ value: "1" }]);
      await sql.unsafe(`UPDATE "${name}".meta SET value = '99' WHERE key = 'schema_version'`);
    } finally {
      await sql.close();
    }
    await expect(open(name, "m3")).rejects.toThrow("newer than this tq-broker knows");
  });

  test("operations in flight together share transactions: 400 submits in far fewer commits, every one acknowledged", async () => {
    const name = schema("group");
    const commits: number[] = [];
    const store = await open(name, "g1", { onCommit: (ops) => commits.push(ops) });
    const outs = await Promise.all(Array.from({ length: 400 }, (_, i) => store.submit([task({ type: `t${i}` })], Date.now())));
    expect(new Set(outs.map((o) => o[0]!.id)).size).toBe(400);
    expect(commits.reduce((n, ops) => n + ops, 0)).toBe(400);
    expect(commits.length).toBeLessThan(100);
    expect(await store.pendingCount()).toBe(400);
  });

  test("claims walk the ready index, not every pending row: draining 60,000 tasks reads the index about once", async () => {
    // Claims are prepared statements; after a few runs PostgreSQL may plan them once for any
    // values, and on a table without statistics (new, not yet analysed) that plan fetched every
    // pending row through a bitmap scan and sorted them (60-99 ms per claim at 60,000 pending):
    // a drain read the index over and over, 3x the database's CPU (bench/pg drain, measured).
    const { url } = await testPostgres();
    const name = schema("plan");
    // No safety-net poll meanwhile: its count of pending tasks reads the index too.
    const store = await open(name, "p1", { pollIntervalMs: 3_600_000 });
    const sql = new SQL(url, { max: 1 });
    try {
      // No analysis midway: autovacuum would give the table statistics at a time of its choosing.
      await sql.unsafe(`ALTER TABLE "${name}".tasks SET (autovacuum_enabled = false)`);
      const total = 60_000;
      const batch = Array.from({ length: 1000 }, (_, i) => task({ type: `t${i}` }));
      for (let i = 0; i < total / 1000; i++) await store.submit(batch, Date.now());
      let done = 0;
      const worker = async (w: number): Promise<void> => {
        for (;;) {
          const leases = await claim(store, { queues: ["default"], workerId: `w${w}`, max: 100, nowMs: Date.now() });
          if (leases.length === 0) return;
          const results = await store.report(leases.map((l) => ({ lease: { id: l.task.id, token: l.token }, completed: { result: null, resultIsJson: false } })), Date.now());
          done += results.filter((r) => r.ok).length;
        }
      };
      await Promise.all([0, 1, 2, 3].map(worker));
      expect(done).toBe(total);
      // Each pool session reports its counters when it ends a transaction a second after its last report.
      const read = async (): Promise<number> => {
        await sql`SELECT pg_stat_clear_snapshot()`;
        const [row] = (await sql`SELECT idx_tup_read::int AS n FROM pg_stat_user_indexes WHERE schemaname = ${name} AND indexrelname = 'tasks_ready'`) as { n: number }[];
        return row!.n;
      };
      await sleep(1100);
      await Promise.all(Array.from({ length: 8 }, () => store.ping()));
      let read1 = 0;
      await eventually(async () => (read1 = await read()) >= total, 15_000, 100);
      // Measured: 210,000 (each entry, plus dead entries of claimed rows the walks step over);
      // 1,196,700 with the plan that reads every pending entry for a claim.
      expect(read1).toBeLessThan(8 * total);
    } finally {
      await sql.close();
    }
  }, 120_000);

  test("another broker hears every finished task, also when one commit's notifications pass 8000 bytes", async () => {
    const name = schema("notify");
    const heard: TaskEnd[] = [];
    const mine: TaskEnd[] = [];
    const doer = await open(name, "n1", { events: { finished: (ends) => mine.push(...ends) } });
    await open(name, "n2", { events: { finished: (ends, elsewhere) => (elsewhere ? heard.push(...ends) : undefined) } });
    // 300 completions in one report: about 18 kB of notification, several payloads.
    const outs = await doer.submit(Array.from({ length: 300 }, () => task({ queue: "loud" })), Date.now());
    const leases = [];
    while (leases.length < 300) leases.push(...(await claim(doer, { queues: ["loud"], workerId: "w", max: 100, nowMs: Date.now() })));
    const results = await doer.report(leases.map((l) => ({ lease: { id: l.task.id, token: l.token }, completed: { result: null, resultIsJson: false } })), Date.now());
    expect(results.every((r) => r.ok)).toBe(true);
    expect(mine).toHaveLength(300);
    await eventually(() => heard.length >= 300, 5000);
    expect(new Set(heard.map((e) => e.id))).toEqual(new Set(outs.map((o) => o.id)));
    expect(heard.every((e) => e.status === "completed" && e.queue === "loud")).toBe(true);
  });

  test("pendingCount sees another broker's submits within its refresh age, and its own at once", async () => {
    const name = schema("pending");
    const x = await open(name, "p1", { pendingCountMaxAgeMs: 100 });
    const y = await open(name, "p2", { pendingCountMaxAgeMs: 100 });
    expect(await x.pendingCount()).toBe(0);
    expect(await y.pendingCount()).toBe(0);
    await x.submit(Array.from({ length: 7 }, () => task()), Date.now());
    expect(await x.pendingCount()).toBe(7);
    await sleep(150);
    // The first read past the age starts a refresh; the answer follows it.
    await y.pendingCount();
    await eventually(async () => (await y.pendingCount()) === 7, 2000);
    const [lease] = await claim(y, { queues: ["default"], workerId: "w", max: 1, nowMs: Date.now() });
    expect(await y.pendingCount()).toBe(6);
    await complete(y, { id: lease!.task.id, token: lease!.token }, { result: null, resultIsJson: false }, Date.now());
    expect(await y.pendingCount()).toBe(6);
  });
});
