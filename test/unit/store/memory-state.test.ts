// The store's in-memory lease bookkeeping: leases found by token and id, stale lease-expiry entries bounded.

import { expect, test } from "bun:test";
import { MemoryState, type LeaseState } from "../../../src/store/sqlite/memory-state.ts";

function lease(seq: number, expiresAtMs: number): LeaseState {
  return {
    seq, id: `id-${seq}`, serial: seq, token: seq, workerId: "w", expiresAtMs, queue: "default", priority: 150, leaseMs: 30_000, startedAtMs: 0, payloadBytes: 0,
    runAtMs: null, attempts: 0, maxRetries: 3, flags: 0,
  };
}

test("ended leases do not pile up in the expiry heap, and live ones keep their entry", () => {
  const mem = new MemoryState();
  const live: LeaseState[] = [];
  for (let seq = 1; seq <= 100_000; seq++) {
    const l = lease(seq, 30_000 + seq);
    mem.addLease(l);
    live.push(l);
    // 100 leases in flight at a time, as a worker pool keeps them.
    if (live.length > 100) mem.removeLease(live.shift()!);
  }
  expect(mem.leasesBySeq.size).toBe(100);
  expect(mem.leaseHeap.size).toBeLessThanOrEqual(4096 + 2 * 100 + 1);
  // Every live lease is still due in order; nothing else comes out.
  const due: number[] = [];
  for (let seq = mem.leaseHeap.pop(); seq !== -1; seq = mem.leaseHeap.pop()) if (mem.leasesBySeq.has(seq)) due.push(seq);
  expect(due).toEqual(live.map((l) => l.seq));
});

test("a renewed lease keeps its newest entry when stale ones are dropped", () => {
  const mem = new MemoryState();
  const held = lease(1, 1_000);
  mem.addLease(held);
  held.expiresAtMs = 50_000;
  mem.leaseHeap.push(held.expiresAtMs, held.seq);
  for (let seq = 2; seq <= 10_000; seq++) {
    const l = lease(seq, 2_000 + seq);
    mem.addLease(l);
    mem.removeLease(l);
  }
  expect(mem.leaseHeap.size).toBeLessThan(5_000);
  expect(mem.leaseHeap.peekDueMs()).not.toBeNull();
  const entries: number[] = [];
  while (mem.leaseHeap.size > 0) {
    entries.push(mem.leaseHeap.peekDueMs()!);
    mem.leaseHeap.pop();
  }
  expect(entries).toContain(50_000);
});

test("a lease is found by its serial only together with its task's id, and not after it ended", () => {
  const mem = new MemoryState();
  const held = lease(7, 1_000);
  mem.addLease(held);
  expect(mem.leaseOf("id-7", 7)).toBe(held);
  // The right serial with another task's id, or the right id with another serial, is no lease.
  expect(mem.leaseOf("id-8", 7)).toBeUndefined();
  expect(mem.leaseOf("id-7", 8)).toBeUndefined();
  mem.removeLease(held);
  expect(mem.leaseOf("id-7", 7)).toBeUndefined();
  expect(mem.counts().inProgress).toBe(0);
});
