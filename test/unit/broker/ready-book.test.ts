// The ready book: claims go to the store only where a task may be, no more at once than there are
// tasks, and it learns from what claims got. Unit cases, then a broker on a real SQLite store
// whose claim calls are counted.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Broker } from "../../../src/broker/broker.ts";
import { ReadyBook } from "../../../src/broker/ready-book.ts";
import { systemClock } from "../../../src/clock.ts";
import { openSqliteStore } from "../../../src/store/sqlite/sqlite-store.ts";

describe("ReadyBook", () => {
  test("reserves no more than it believes is there, across the claim's queues in order", () => {
    const book = new ReadyBook();
    book.seed([["a", 2], ["b", 5]]);
    const r = book.reserve(["a", "b", "c"], 4)!;
    expect(r.taken).toEqual([2, 2, 0]);
    expect(book.reserve(["a"], 1)).toBeNull();
    expect(book.reserve(["c"], 1)).toBeNull();
    const rest = book.reserve(["b"], 10)!;
    expect(rest.taken).toEqual([3]);
    expect(book.has(["a", "b"])).toBe(false);
  });

  test("a claim that got less gives the rest back; one that got nothing drains its queues", () => {
    const book = new ReadyBook();
    book.seed([["a", 3]]);
    book.settle(book.reserve(["a"], 3)!, ["a"]);
    expect(book.reserve(["a"], 10)!.taken).toEqual([2]);
    book.announce("b", 4);
    const r = book.reserve(["b"], 2)!;
    book.settle(r, []);
    expect(book.has(["b"])).toBe(false);
  });

  test("an announcement while a claim was out keeps the queue ready even if that claim found nothing", () => {
    const book = new ReadyBook();
    book.announce("a", 1);
    const r = book.reserve(["a"], 1)!;
    book.announce("a", 2);
    book.settle(r, []);
    expect(book.reserve(["a"], 10)!.taken).toEqual([2]);
  });

  test("a claim that failed gives back what it took", () => {
    const book = new ReadyBook();
    book.seed([["a", 5]]);
    book.giveBack(book.reserve(["a"], 3)!);
    expect(book.reserve(["a"], 10)!.taken).toEqual([5]);
  });
});

describe("the broker asks the store only where the book sees tasks", () => {
  test("one task submitted while 50 claims are parked reaches the store as one claim, not 50; idle non-blocking claims never reach it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tq-ready-book-"));
    let broker: Broker | undefined;
    const store = openSqliteStore({
      path: join(dir, "tq.db"),
      events: { ready: (queue, count) => broker?.onReady(queue, count), finished: (ends) => broker?.onFinished(ends) },
    });
    let storeClaims = 0;
    const claim = store.claim.bind(store);
    store.claim = (request) => {
      storeClaims++;
      return claim(request);
    };
    broker = new Broker({
      store,
      clock: systemClock,
      log: { debug() {}, info() {}, warn() {}, error() {} },
      queueDepthThreshold: 100_000,
      defaultLeaseMs: 30_000,
      defaultMaxRetries: 3,
      maxBatchClaim: 10,
      heartbeatIntervalMs: 15_000,
      disconnectGraceMs: 5000,
      maxInactivityMs: 60_000,
    });
    try {
      await broker.start();
      for (let i = 0; i < 100; i++) expect(await broker.claim({ workerId: `idle${i}`, queues: ["q"], max: 1, waitMs: 0 })).toEqual([]);
      expect(storeClaims).toBe(0);
      const parked = Array.from({ length: 50 }, (_, i) => broker!.claim({ workerId: `w${i}`, queues: ["q"], max: 1, waitMs: 2000 }).catch(() => []));
      await Bun.sleep(0);
      await broker.submit([{ type: "t", queue: "q" }]);
      const first = await Promise.race(parked);
      expect(first).toHaveLength(1);
      expect(storeClaims).toBe(1);
      // The one who got it was the longest waiting.
      expect(first[0]!.task.workerId).toBe("w0");
    } finally {
      broker.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
