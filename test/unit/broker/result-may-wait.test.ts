// Which results the broker lets the store hold for company (Store.report's mayWait): only those
// whose worker gets its next task by push and whose result nobody waits on. A store spy records
// what the broker asked; the store itself is a real SqliteStore in memory.

import { afterEach, expect, test } from "bun:test";
import { Broker } from "../../../src/broker/broker.ts";
import type { Lease } from "../../../src/rules/task.ts";
import { silentLogger } from "../../../src/log.ts";
import { openSqliteStore, type SqliteStore } from "../../../src/store/sqlite/sqlite-store.ts";
import { FakeClock } from "../../helpers/fake-clock.ts";

const stores: SqliteStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

/** A broker over an in-memory store whose report calls are recorded with their mayWait. */
function brokerWithSpy(): { broker: Broker; mayWaits: (boolean | undefined)[] } {
  let broker: Broker | null = null;
  const store = openSqliteStore({
    path: ":memory:",
    events: { ready: (queue, count) => broker?.onReady(queue, count), finished: (ends, elsewhere) => broker?.onFinished(ends, elsewhere) },
  });
  stores.push(store);
  const mayWaits: (boolean | undefined)[] = [];
  const spy = new Proxy(store, {
    get(target, key) {
      if (key === "report") {
        return (items: Parameters<SqliteStore["report"]>[0], nowMs: number, mayWait?: boolean) => {
          mayWaits.push(mayWait);
          return target.report(items, nowMs, mayWait);
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  broker = new Broker({
    store: spy,
    clock: new FakeClock(),
    log: silentLogger,
    queueDepthThreshold: 1_000_000,
    defaultLeaseMs: 30_000,
    defaultMaxRetries: 3,
    maxBatchClaim: 100,
    heartbeatIntervalMs: 5_000,
    disconnectGraceMs: 10_000,
    maxInactivityMs: 60_000,
  });
  return { broker, mayWaits };
}

/** Subscribes worker "w" to queue "q" and returns what it is pushed. */
function subscribe(broker: Broker): Lease[] {
  const pushed: Lease[] = [];
  broker.subscribe({ consumer: 1, subscriptionId: 1, workerId: "w", queues: ["q"], credits: 10, sink: { deliver: (_id, leases) => (pushed.push(...leases), true), writable: () => true } });
  return pushed;
}

const ref = (l: Lease) => ({ id: l.task.id, token: l.token });
const ok = { result: new Uint8Array(), resultIsJson: false };

test("a result of a task pushed to a subscription may wait; one of a claimed task may not", async () => {
  const { broker, mayWaits } = brokerWithSpy();
  await broker.submit([{ type: "t", queue: "claimed" }]);
  const [claimed] = await broker.claim({ workerId: "c", queues: ["claimed"], max: 1, waitMs: 0 });
  await broker.complete(ref(claimed!), ok);
  const pushed = subscribe(broker);
  await broker.submit([{ type: "t", queue: "q" }, { type: "t", queue: "q" }]);
  while (pushed.length < 2) await Bun.sleep(0);
  await broker.reportAll([{ lease: ref(pushed[0]!), completed: ok }]);
  await broker.fail(ref(pushed[1]!), { error: "no", unrecoverable: true });
  expect(mayWaits).toEqual([false, true, true]);
});

test("a pushed task's result may not wait while someone waits on it (WaitResult), nor in a batch with a claimed one", async () => {
  const { broker, mayWaits } = brokerWithSpy();
  const pushed = subscribe(broker);
  await broker.submit([{ type: "t", queue: "q" }]);
  while (pushed.length < 1) await Bun.sleep(0);
  const waiting = broker.waitResult(pushed[0]!.task.id, 10_000);
  await Bun.sleep(0);
  await broker.complete(ref(pushed[0]!), ok);
  expect((await waiting).status).toBe("completed");
  await broker.submit([{ type: "t", queue: "q" }, { type: "t", queue: "claimed" }]);
  while (pushed.length < 2) await Bun.sleep(0);
  const [claimed] = await broker.claim({ workerId: "c", queues: ["claimed"], max: 1, waitMs: 0 });
  await broker.reportAll([{ lease: ref(pushed[1]!), completed: ok }, { lease: ref(claimed!), completed: ok }]);
  expect(mayWaits).toEqual([false, false]);
});
