// API keys on the TCP protocol: nothing but Hello (and Ping) before a valid key, roles limit
// what a key may do, rejected requests change nothing, repeated bad keys close the connection.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawConn, type RequestInput } from "../helpers/raw-conn.ts";
import { claim, complete, eventually, expectKind, spec, stats, status, submit } from "../helpers/wire.ts";

const KEYS = {
  admin: "admin-key-0123456789abcdef",
  producer: "producer-key-0123456789abcdef",
  worker: "worker-key-0123456789abcdef",
  otherWorker: "other-worker-key-0123456789abcdef",
};

let broker: TestBroker;

beforeAll(async () => {
  broker = await startBroker({
    "auth.enabled": true,
    "auth.max_failures_per_connection": 3,
    "auth.api_keys": [
      { name: "ops", role: "admin", key: KEYS.admin },
      { name: "shop", role: "producer", key_sha256: createHash("sha256").update(KEYS.producer).digest("hex") },
      { name: "runner", role: "worker", key: KEYS.worker },
      { name: "runner2", role: "worker", key: KEYS.otherWorker },
    ],
  });
});

afterAll(async () => {
  await broker.stop();
});

async function login(key: string): Promise<RawConn> {
  const conn = await RawConn.connect(broker.port);
  expectKind(await conn.call({ kind: "Hello", version: 1, apiKey: key, clientName: "test" }), "HelloOk");
  return conn;
}

describe("auth on TCP", () => {
  test("without Hello every request is Unauthorized and nothing is stored", async () => {
    const conn = await RawConn.connect(broker.port);
    const error = expectKind(await conn.call({ kind: "SubmitTask", task: spec("t", { queue: "noauth" }) }), "Error");
    expect(error.code).toBe(6);
    expect(error.message).toContain("Hello");
    expectKind(await conn.call({ kind: "Ping" }), "Pong");
    conn.close();
    const admin = await login(KEYS.admin);
    const queues = (await stats(admin)).tasks.queues as { queue: string }[];
    expect(queues.find((q) => q.queue === "noauth")).toBeUndefined();
    admin.close();
  });

  test("a wrong key is refused without echoing it; three failures close the connection", async () => {
    const conn = await RawConn.connect(broker.port);
    for (let i = 0; i < 3; i++) {
      const error = expectKind(await conn.call({ kind: "Hello", version: 1, apiKey: "wrong-key-secret", clientName: "x" }), "Error");
      expect(error.code).toBe(6);
      expect(error.message).not.toContain("wrong-key-secret");
    }
    await conn.waitClosed();
  });

  test("a key given as its SHA-256 digest works", async () => {
    const producer = await login(KEYS.producer);
    expectKind(await producer.call({ kind: "SubmitTask", task: spec("t", { queue: "hashed" }) }), "Submitted");
    producer.close();
  });

  const MATRIX: { role: keyof typeof KEYS; submit: boolean; claim: boolean; stats: boolean }[] = [
    { role: "admin", submit: true, claim: true, stats: true },
    { role: "producer", submit: true, claim: false, stats: true },
    { role: "worker", submit: false, claim: true, stats: false },
  ];

  for (const row of MATRIX) {
    test(`the ${row.role} role: submit ${row.submit}, claim ${row.claim}, stats ${row.stats}`, async () => {
      const conn = await login(KEYS[row.role]);
      const queue = `matrix-${row.role}`;
      const submitted = await conn.call({ kind: "SubmitTask", task: spec("t", { queue }) });
      expect(submitted.kind).toBe(row.submit ? "Submitted" : "Error");
      if (!row.submit) expect(expectKind(submitted, "Error").code).toBe(7);
      const claimed = await conn.call({ kind: "ClaimTask", queues: [queue], max: 1, waitMs: 0 });
      expect(claimed.kind).toBe(row.claim ? "Claimed" : "Error");
      const statsReply = await conn.call({ kind: "GetStats" });
      expect(statsReply.kind).toBe(row.stats ? "Stats" : "Error");
      conn.close();
    });
  }

  test("a rejected claim leaves the task pending for a permitted worker", async () => {
    const producer = await login(KEYS.producer);
    expectKind(await producer.call({ kind: "SubmitTask", task: spec("t", { queue: "guarded" }) }), "Submitted");
    expect(expectKind(await producer.call({ kind: "ClaimTask", queues: ["guarded"], max: 1, waitMs: 0 }), "Error").code).toBe(7);
    const worker = await login(KEYS.worker);
    expect((await claim(worker, { queues: ["guarded"] })).length).toBe(1);
    producer.close();
    worker.close();
  });
});

describe("workers cannot act for each other", () => {
  function register(conn: RawConn, workerId: string) {
    return conn.call({ kind: "RegisterWorker", workerId, hostname: "h", pid: 1, queues: ["default"], concurrency: 1, version: "t", labels: [] });
  }

  test("a worker key cannot deregister, re-register or heartbeat a worker registered on another open connection; an admin key can", async () => {
    const owner = await login(KEYS.worker);
    const intruder = await login(KEYS.worker);
    const admin = await login(KEYS.admin);
    expectKind(await register(owner, "owned"), "Registered");
    const id = await submit(admin, spec("t", { queue: "owned-q" }));
    expect((await claim(owner, { queues: ["owned-q"] }))[0]?.id).toBe(id);
    const requests: RequestInput[] = [
      { kind: "DeregisterWorker", workerId: "owned" },
      { kind: "Heartbeat", workerId: "owned", cpuPercent: 0, memoryMb: 0, inFlight: [] },
    ];
    for (const request of requests) {
      const refused = expectKind(await intruder.call(request), "Error");
      expect({ code: refused.code, field: refused.field }).toEqual({ code: 7, field: "worker_id" });
    }
    expect(expectKind(await register(intruder, "owned"), "Error").code).toBe(7);
    expect((await status(admin, id)).status).toBe("in_progress");
    expectKind(await admin.call({ kind: "DeregisterWorker", workerId: "owned" }), "Ack");
    expect((await status(admin, id)).status).toBe("pending");
    for (const conn of [owner, intruder, admin]) conn.close();
  });

  test("a lease token cannot be worked out from one's own: a neighbour's task with nearby tokens is LeaseLost", async () => {
    const admin = await login(KEYS.admin);
    const a = await login(KEYS.worker);
    const b = await login(KEYS.worker);
    await submit(admin, spec("t", { queue: "tokens-q" }));
    await submit(admin, spec("t", { queue: "tokens-q" }));
    const [mine] = await claim(a, { queues: ["tokens-q"] });
    const [theirs] = await claim(b, { queues: ["tokens-q"] });
    for (let delta = -3; delta <= 3; delta++) {
      const guess = (theirs!.token + delta) >>> 0;
      expect(expectKind(await complete(b, { id: mine!.id, token: guess }), "Error").code).toBe(10);
    }
    expect((await status(admin, mine!.id)).status).toBe("in_progress");
    expectKind(await complete(a, mine!), "Ack");
    for (const conn of [admin, a, b]) conn.close();
  });

  test("a worker that reconnects reports the task it holds with its token, and takes its id back; another key cannot", async () => {
    const admin = await login(KEYS.admin);
    const first = await login(KEYS.worker);
    expectKind(await register(first, "returning"), "Registered");
    const id = await submit(admin, spec("t", { queue: "return-q" }));
    const [task] = await claim(first, { queues: ["return-q"] });
    first.close();
    await first.waitClosed();
    // The close is an OS event: wait until the broker has seen it.
    await eventually(() => broker.app.broker.workers.get("returning")?.disconnectedAtMs != null, 5000, 2);
    const other = await login(KEYS.otherWorker);
    expect(expectKind(await register(other, "returning"), "Error").code).toBe(7);
    const again = await login(KEYS.worker);
    expectKind(await complete(again, task!), "Ack");
    expect((await status(admin, id)).status).toBe("completed");
    expectKind(await register(again, "returning"), "Registered");
    for (const conn of [admin, other, again]) conn.close();
  });
});
