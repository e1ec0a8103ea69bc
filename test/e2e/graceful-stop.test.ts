// SIGTERM under load: the broker stops taking work, finishes its group commit, answers what it
// accepted, exits 0, and after a restart every acknowledged submit is there.
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { encodeRequest } from "../../src/protocol/frame-writer.ts";
import { spawnBroker } from "../helpers/broker-process.ts";
import { startBroker } from "../helpers/broker.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { expectKind, spec } from "../helpers/wire.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("graceful stop", () => {
  test("SIGTERM while producers submit: exit 0, and every acknowledged task survives the restart", async () => {
    const broker = await spawnBroker();
    dirs.push(broker.dataDir);
    const producers = await Promise.all([1, 2, 3].map(() => RawConn.connect(broker.port)));
    const acked = new Set<string>();
    let stop = false;
    const loops = producers.map(async (conn, p) => {
      let requestId = 1;
      // Bounded: at most 2,000 batches per producer, or until the broker goes away.
      for (let i = 0; i < 2000 && !stop && !conn.closed; i++) {
        const id = requestId++;
        conn.sendBytes(encodeRequest({ kind: "SubmitBatch", requestId: id, tasks: Array.from({ length: 20 }, (_, k) => spec(`g${p}-${i}-${k}`, { queue: "graceful" })) }));
        let response;
        try {
          response = await conn.waitFor((r) => r.requestId === id, 5000);
        } catch {
          return;
        }
        if (response.kind === "SubmittedBatch") for (const o of response.outcomes) acked.add(o.id);
        else if (response.kind === "Error") return;
      }
    });
    // Real time on purpose: lets load flow into a spawned broker process before it is signalled.
    await Bun.sleep(300);
    const ackedBeforeSignal = acked.size;
    broker.proc.kill("SIGTERM");
    const code = await broker.exited;
    stop = true;
    await Promise.all(loops);
    expect(code).toBe(0);
    expect(ackedBeforeSignal).toBeGreaterThan(0);
    expect(broker.output()).toContain('"msg":"stopped"');

    const again = await startBroker({}, broker.dataDir);
    try {
      const conn = await RawConn.connect(again.port);
      const stats = JSON.parse(expectKind(await conn.call({ kind: "GetStats" }), "Stats").json);
      const queue = stats.tasks.queues.find((q: { queue: string }) => q.queue === "graceful");
      const stored = queue.pending.high + queue.pending.normal + queue.pending.low;
      // Everything acknowledged is there; anything beyond was committed but its reply was cut off.
      expect(stored).toBeGreaterThanOrEqual(acked.size);
      const sample = [...acked].slice(-50);
      for (const id of sample) {
        expect(expectKind(await conn.call({ kind: "QueryStatus", id }), "TaskInfo").task.status).toBe("pending");
      }
      conn.close();
    } finally {
      await again.stopKeepData();
    }
  }, 30_000);
});

describe("graceful stop answers what it committed", () => {
  test("SIGTERM while clients pipeline submits: each is answered Submitted or ShuttingDown, and exactly the Submitted ones are stored", async () => {
    const broker = await spawnBroker();
    dirs.push(broker.dataDir);
    const WINDOW = 64;
    const sent = new Map<string, { type: string; answer: string | null }>();
    const loops = [1, 2, 3].map(async (p) => {
      const conn = await RawConn.connect(broker.port);
      let requestId = 1;
      let inFlight = 0;
      let refused = false;
      const waiters: (() => void)[] = [];
      const settle = (): void => {
        inFlight--;
        waiters.shift()?.();
      };
      // Bounded: at most 20,000 submits per connection; sending stops at the first ShuttingDown.
      for (let i = 0; i < 20_000 && !refused && !conn.closed; i++) {
        if (inFlight >= WINDOW) await new Promise<void>((resolve) => waiters.push(resolve));
        if (refused || conn.closed) break;
        const id = requestId++;
        const key = `${p}:${id}`;
        const type = `gs-${p}-${id}`;
        sent.set(key, { type, answer: null });
        conn.sendBytes(encodeRequest({ kind: "SubmitTask", requestId: id, task: spec(type, { queue: "shutdown-q" }) }));
        inFlight++;
        void conn.waitFor((r) => r.requestId === id, 10_000).then(
          (r) => {
            sent.get(key)!.answer = r.kind === "Error" ? `Error ${r.code}` : r.kind;
            if (r.kind === "Error") refused = true;
            settle();
          },
          () => settle(),
        );
      }
      await conn.waitClosed(10_000);
    });
    // Real time on purpose: lets load flow into a spawned broker process before it is signalled.
    await Bun.sleep(300);
    broker.proc.kill("SIGTERM");
    expect(await broker.exited).toBe(0);
    await Promise.all(loops);

    const answers = [...sent.values()];
    const acked = new Set(answers.filter((a) => a.answer === "Submitted").map((a) => a.type));
    const refusedTypes = new Set(answers.filter((a) => a.answer === "Error 14").map((a) => a.type));
    const silent = answers.filter((a) => a.answer !== "Submitted" && a.answer !== "Error 14");
    expect(silent.map((a) => `${a.type}: ${a.answer}`)).toEqual([]);
    // The signal came while submits were flowing: some went in, the later ones were refused.
    expect(acked.size).toBeGreaterThan(0);
    expect(refusedTypes.size).toBeGreaterThan(0);

    const again = await startBroker({}, broker.dataDir);
    try {
      const conn = await RawConn.connect(again.port);
      const stored = new Set<string>();
      let cursor: string | undefined;
      // Bounded: the pages of at most 60,000 tasks.
      for (let page = 0; page < 60; page++) {
        const list = expectKind(await conn.call({ kind: "ListTasks", queue: "shutdown-q", limit: 1000, ...(cursor ? { cursor } : {}) }), "TaskList");
        for (const t of list.tasks) stored.add(t.type);
        if (list.nextCursor === null) break;
        cursor = list.nextCursor;
      }
      expect([...acked].filter((t) => !stored.has(t))).toEqual([]);
      expect([...stored].filter((t) => !acked.has(t))).toEqual([]);
      conn.close();
    } finally {
      await again.stopKeepData();
    }
  }, 60_000);

  test("SIGTERM answers a parked blocking claim and a result wait with ShuttingDown, not an empty reply", async () => {
    const broker = await spawnBroker();
    dirs.push(broker.dataDir);
    const conn = await RawConn.connect(broker.port);
    const id = expectKind(await conn.call({ kind: "SubmitTask", task: spec("waited", { queue: "nobody-claims" }) }), "Submitted").id;
    const claimId = conn.send({ kind: "ClaimTask", queues: ["empty-q"], max: 1, waitMs: 60_000 });
    const waitId = conn.send({ kind: "WaitResult", id, waitMs: 60_000 });
    // Not a broker timer: time for both requests to reach the spawned broker before it is signalled.
    await Bun.sleep(100);
    broker.proc.kill("SIGTERM");
    const claim = await conn.waitFor((r) => r.requestId === claimId, 10_000);
    const wait = await conn.waitFor((r) => r.requestId === waitId, 10_000);
    expect(claim).toMatchObject({ kind: "Error", code: 14 });
    expect(wait).toMatchObject({ kind: "Error", code: 14 });
    expect(await broker.exited).toBe(0);
  }, 30_000);
});
