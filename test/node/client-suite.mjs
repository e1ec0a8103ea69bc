// One client test suite, written in plain JS with node:assert so the same file runs under
// `bun test` (against src/index.ts) and `node --test` (against the bundle for Node.js). Tests
// only the SDK's public surface, against a real broker at the URL it is given.
import assert from "node:assert/strict";

/**
 * @param {{ test: (name: string, fn: () => Promise<void>) => unknown, sdk: any, url: () => string }} t
 */
export function defineClientSuite({ test, sdk, url }) {
  const { Client, Worker, NotFoundError, InvalidFieldError, TqError, TaskFailedError } = sdk;
  const client = () => new Client({ url: url(), env: {} });

  test("submit, status and result round trip through a Worker", async () => {
    const c = client();
    const w = new Worker({ url: url(), env: {}, queues: ["suite-rt"], handleSignals: false });
    try {
      const sent = await c.submit("add", { a: 20, b: 22 }, { queue: "suite-rt", priority: "low" });
      const task = await c.status(sent.id);
      assert.equal(task.priority, 50);
      assert.deepEqual(task.payload, { a: 20, b: 22 });
      w.register("add", (t) => ({ sum: t.payload.a + t.payload.b }));
      await w.start();
      assert.deepEqual(await c.result(sent.id, { wait: 10000 }), { sum: 42 });
    } finally {
      await w.stop();
      await c.close();
    }
  });

  test("submitMany returns one outcome per task, in order", async () => {
    const c = client();
    try {
      const out = await c.submitMany([0, 1, 2, 3, 4].map((i) => ({ type: "n", payload: i, queue: "suite-many" })));
      assert.equal(out.length, 5);
      for (let i = 0; i < 5; i++) assert.equal((await c.status(out[i].id)).payload, i);
    } finally {
      await c.close();
    }
  });

  test("errors are typed by code", async () => {
    const c = client();
    try {
      const missing = await c.status("00000000-0000-7000-8000-000000000000").catch((e) => e);
      assert.ok(missing instanceof NotFoundError);
      assert.ok(missing instanceof TqError);
      assert.equal(missing.code, 8);
      const bad = await c.submit("t", null, { queue: "has space" }).catch((e) => e);
      assert.ok(bad instanceof InvalidFieldError);
      assert.equal(bad.field, "queue");
    } finally {
      await c.close();
    }
  });

  test("a worker never runs more than its concurrency; a failing handler ends dead", async () => {
    const c = client();
    const w = new Worker({ url: url(), env: {}, queues: ["suite-conc"], concurrency: 2, handleSignals: false });
    w.on("error", () => {});
    let running = 0;
    let peak = 0;
    w.register("slow", async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      return "ok";
    });
    w.register("bad", () => {
      throw new Error("always");
    });
    try {
      const slow = await c.submitMany(Array.from({ length: 8 }, () => ({ type: "slow", queue: "suite-conc" })));
      const bad = await c.submit("bad", null, { queue: "suite-conc", maxRetries: 0 });
      await w.start();
      for (const s of slow) assert.equal(await c.result(s.id, { wait: 10000 }), "ok");
      const err = await c.result(bad.id, { wait: 10000 }).catch((e) => e);
      assert.ok(err instanceof TaskFailedError);
      assert.equal(err.status, "dead");
      assert.ok(peak <= 2, `peak ${peak} over concurrency 2`);
    } finally {
      await w.stop();
      await c.close();
    }
  });
}
