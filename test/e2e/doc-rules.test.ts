// Rules docs/PROTOCOL.md states that an independent client relies on, checked against a real
// broker: what QueueFull counts, the numbers behind the tier names, HelloOk.serverVersion as sent,
// ClaimTask's max past maxBatchClaim (capped, not refused), the cases of LeaseLost, and what
// counts as an attempt. The broker runs on a FakeClock.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { PRIORITY_TIERS } from "../../src/protocol/limits.ts";
import { versionInfo } from "../../src/version.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, complete, eventually, expectKind, spec, stats, status, submit } from "../helpers/wire.ts";

const doc = await Bun.file(new URL("../../docs/PROTOCOL.md", import.meta.url)).text();

const GRACE_MS = 5000;
const clock = new FakeClock();
let broker: TestBroker;
let conn: RawConn;

beforeAll(async () => {
  broker = await startBroker(
    { "broker.queue_depth_threshold": 4, "broker.max_batch_claim": 3, "broker.disconnect_grace_secs": GRACE_MS / 1000, "broker.idle_timeout_secs": 3600 },
    undefined,
    { clock },
  );
  conn = await RawConn.connect(broker.port);
});

afterAll(async () => {
  conn.close();
  await broker.stop();
});

test("QueueFull counts pending tasks broker-wide only, and refuses a batch whole", async () => {
  // Scheduled and running tasks do not count; pending ones in every queue do.
  await submit(conn, spec("later", { queue: "qf-a", runAtMs: clock.now() + 600_000 }));
  await submit(conn, spec("run", { queue: "qf-a" }));
  expect((await claim(conn, { queues: ["qf-a"] })).length).toBe(1);
  await submit(conn, spec("p1", { queue: "qf-a" }));
  await submit(conn, spec("p2", { queue: "qf-b" }));
  await submit(conn, spec("p3", { queue: "qf-c" }));
  const batch = expectKind(await conn.call({ kind: "SubmitBatch", tasks: [spec("b1", { queue: "qf-d" }), spec("b2", { queue: "qf-d" })] }), "Error");
  expect({ code: batch.code, retryAfterMs: batch.retryAfterMs }).toEqual({ code: 11, retryAfterMs: 1000 });
  const queues = (await stats(conn)).tasks.queues as { queue: string }[];
  expect(queues.find((q) => q.queue === "qf-d")).toBeUndefined();
  await submit(conn, spec("p4", { queue: "qf-d" }));
  expect(expectKind(await conn.call({ kind: "SubmitTask", task: spec("p5", { queue: "qf-e" }) }), "Error").code).toBe(11);
  expect(doc).toContain("the tasks `pending` broker-wide");
  // Leave room for the other tests.
  expect((await claim(conn, { queues: ["qf-a", "qf-b", "qf-c", "qf-d"], max: 3 })).length).toBe(3);
  expect((await claim(conn, { queues: ["qf-a", "qf-b", "qf-c", "qf-d"], max: 3 })).length).toBe(1);
});

test("the tier names stand for the numbers the doc gives, through the REST API as through the SDK's table", async () => {
  const stated = /\*\*high = (\d+), normal = (\d+), low = (\d+)\*\*/.exec(doc);
  expect(stated).not.toBeNull();
  const [high, normal, low] = stated!.slice(1).map(Number) as [number, number, number];
  expect([high, normal, low]).toEqual([PRIORITY_TIERS.high.default, PRIORITY_TIERS.normal.default, PRIORITY_TIERS.low.default]);
  for (const [name, value] of [["high", high], ["normal", normal], ["low", low]] as const) {
    const res = await fetch(`http://127.0.0.1:${broker.httpPort}/api/v1/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "tier", queue: "tiers", priority: name }),
    });
    const { id } = (await res.json()) as { id: string };
    expect((await status(conn, id)).priority).toBe(value);
  }
  expect((await claim(conn, { queues: ["tiers"], max: 3 })).map((t) => t.priority)).toEqual([high, normal, low]);
});

test("HelloOk.serverVersion is the broker's version, as the doc's example shows it", async () => {
  const hello = expectKind(await conn.call({ kind: "Hello", version: 1, apiKey: "", clientName: "doc" }), "HelloOk");
  expect(hello.serverVersion).toBe(versionInfo().version);
  expect(hello.serverVersion).toMatch(/^\d+\.\d+\.\d+/);
  expect(doc).toContain('"serverVersion":"0.1.0"');
  expect(hello.maxBatchClaim).toBe(3);
});

test("ClaimTask's max past maxBatchClaim takes maxBatchClaim tasks; 0 is InvalidField", async () => {
  for (let i = 0; i < 4; i++) await submit(conn, spec(`m${i}`, { queue: "max-q" }));
  expect((await claim(conn, { queues: ["max-q"], max: 500 })).length).toBe(3);
  const zero = expectKind(await conn.call({ kind: "ClaimTask", queues: ["max-q"], max: 0, waitMs: 0 }), "Error");
  expect({ code: zero.code, field: zero.field }).toEqual({ code: 4, field: "max" });
});

function register(c: RawConn, workerId: string) {
  return c.call({ kind: "RegisterWorker", workerId, hostname: "h", pid: 1, queues: ["default"], concurrency: 1, version: "t", labels: [] });
}

test("LeaseLost for a second report, after a hand-back, after a deregister and for a token never issued", async () => {
  const worker = await RawConn.connect(broker.port);
  try {
    expectKind(await register(worker, "ll-w"), "Registered");
    await submit(conn, spec("a", { queue: "ll" }));
    const [a] = await claim(worker, { queues: ["ll"] });
    expectKind(await complete(worker, a!), "Ack");
    expect(expectKind(await complete(worker, a!), "Error").code).toBe(10);
    await submit(conn, spec("b", { queue: "ll" }));
    const [b] = await claim(worker, { queues: ["ll"] });
    expectKind(await worker.call({ kind: "Nack", leases: [{ id: b!.id, token: b!.token }] }), "Ack");
    expect(expectKind(await complete(worker, b!), "Error").code).toBe(10);
    const [again] = await claim(worker, { queues: ["ll"] });
    expect(again?.id).toBe(b!.id);
    expect(expectKind(await complete(worker, { id: b!.id, token: (again!.token ^ 0x5a5a5a5a) >>> 0 }), "Error").code).toBe(10);
    expectKind(await worker.call({ kind: "DeregisterWorker", workerId: "ll-w" }), "Ack");
    const lost = expectKind(await complete(worker, again!), "Error");
    expect({ code: lost.code, field: lost.field }).toEqual({ code: 10, field: "token" });
    expect(expectKind(await complete(worker, { id: "0190a5a0-0000-7000-8000-00000000abcd", token: 1 }), "Error").code).toBe(8);
  } finally {
    worker.close();
  }
});

test("attempts: a closed connection past the grace counts one; a hand-back, a deregister and a cancel do not; a retry resets", async () => {
  const id = await submit(conn, spec("att", { queue: "att", maxRetries: 5 }));
  const handing = await RawConn.connect(broker.port);
  const [t1] = await claim(handing, { queues: ["att"] });
  expectKind(await handing.call({ kind: "Nack", leases: [{ id, token: t1!.token }] }), "Ack");
  expect((await status(conn, id)).attempts).toBe(0);
  expectKind(await register(handing, "att-w"), "Registered");
  await claim(handing, { queues: ["att"] });
  expectKind(await handing.call({ kind: "DeregisterWorker", workerId: "att-w" }), "Ack");
  expect((await status(conn, id)).attempts).toBe(0);
  await claim(handing, { queues: ["att"] });
  const disconnected = (): number => broker.app.broker.workers.list().filter((w) => w.disconnectedAtMs !== null).length;
  const before = disconnected();
  handing.close();
  // The close is an OS event: wait until the broker has seen it, then let the grace run out.
  await eventually(() => disconnected() > before, 5000, 2);
  clock.advance(GRACE_MS - 1);
  expect((await status(conn, id)).status).toBe("in_progress");
  clock.advance(1);
  await eventually(async () => (await status(conn, id)).status === "pending", 5000);
  expect((await status(conn, id)).attempts).toBe(1);
  await claim(conn, { queues: ["att"] });
  expect(expectKind(await conn.call({ kind: "CancelTask", id }), "TaskInfo").task).toMatchObject({ status: "cancelled", attempts: 1 });
  expect(expectKind(await conn.call({ kind: "RetryTask", id }), "TaskInfo").task).toMatchObject({ status: "pending", attempts: 0 });
});
