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
