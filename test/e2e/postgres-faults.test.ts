// A broker on PostgreSQL when the database goes away and comes back: retryable
// StorageUnavailable, /readyz 503 naming the store, nothing acknowledged that was not committed,
// and service resuming by itself, blocking claims and cross-broker wake-ups included. Stops and
// starts the run's real test server (so it is skipped against an outside one).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { dropSchema, freshSchema, postgresBrokerConfig, startServer, stopServer, testPostgres } from "../helpers/postgres.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, eventually, expectKind, spec, status } from "../helpers/wire.ts";

const schema = freshSchema("faults");
let own = true;
let a: TestBroker;
let b: TestBroker;
const conns: RawConn[] = [];

async function connect(broker: TestBroker): Promise<RawConn> {
  const conn = await RawConn.connect(broker.port);
  conns.push(conn);
  return conn;
}

async function readyz(broker: TestBroker): Promise<{ status: number; body: { checks: Record<string, { ok: boolean; error?: string }> } }> {
  const res = await fetch(`http://127.0.0.1:${broker.httpPort}/readyz`);
  return { status: res.status, body: (await res.json()) as { checks: Record<string, { ok: boolean; error?: string }> } };
}

beforeAll(async () => {
  own = (await testPostgres()).ownServer;
  a = await startBroker(await postgresBrokerConfig(schema, "fa"));
  b = await startBroker(await postgresBrokerConfig(schema, "fb"));
}, 120_000);

afterAll(async () => {
  for (const conn of conns) conn.close();
  await a.stop();
  await b.stop();
  await dropSchema(schema);
});

describe("PostgreSQL unreachable, then back", () => {
  test("StorageUnavailable and /readyz 503 while it is down; acknowledged work kept; service resumes by itself", async () => {
    if (!own) return;
    const producer = await connect(a);
    const before = expectKind(await producer.call({ kind: "SubmitTask", task: spec("before", { queue: "faults" }) }), "Submitted").id;
    expect((await readyz(a)).status).toBe(200);

    await stopServer();
    try {
      const refused = expectKind(await producer.call({ kind: "SubmitTask", task: spec("during", { queue: "faults" }) }), "Error");
      expect(refused.code).toBe(13);
      expect(refused.message).toContain("PostgreSQL");
      const health = await readyz(a);
      expect(health.status).toBe(503);
      expect(health.body.checks.store!.ok).toBe(false);
      expect(health.body.checks.store!.error).toContain("StorageUnavailable");
      // While it is down, submits keep being refused, none acknowledged.
      const acknowledged: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await producer.call({ kind: "SubmitTask", task: spec("during", { queue: "faults" }) });
        if (r.kind === "Submitted") acknowledged.push(r.id);
      }
      expect(acknowledged).toEqual([]);
    } finally {
      await startServer();
    }

    // Back by itself: readiness, submits, and a claim parked on B woken by a submit on A.
    await eventually(async () => (await readyz(a)).status === 200, 15_000, 100);
    await eventually(async () => (await readyz(b)).status === 200, 15_000, 100);
    const worker = await connect(b);
    expect((await status(worker, before)).status).toBe("pending");
    const drained = await claim(worker, { queues: ["faults"], max: 10 });
    expect(drained.map((t) => t.id)).toEqual([before]);
    // The listener reconnected (or the poll stands in for it): a parked claim on B is served.
    await eventually(async () => {
      const parked = worker.call({ kind: "ClaimTask", queues: ["faults-after"], max: 1, waitMs: 3000 }, 8000);
      const r = await producer.call({ kind: "SubmitTask", task: spec("after", { queue: "faults-after" }) });
      if (r.kind !== "Submitted") {
        await parked;
        return false;
      }
      const got = expectKind(await parked, "Claimed").tasks;
      return got.length === 1 && got[0]!.id === r.id;
    }, 20_000, 200);
  }, 60_000);
});
