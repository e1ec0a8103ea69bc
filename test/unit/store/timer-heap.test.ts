// The (dueMs, seq) min-heap: due order, seq tie-break, growth, interleaved use.

import { expect, test } from "bun:test";
import { TimerHeap } from "../../../src/store/sqlite/timer-heap.ts";

/** `count` (due, seq) pairs, seq 1..count, dues from a fixed pseudo-random sequence below `maxDue`. */
function pseudoRandomEntries(count: number, maxDue: number, seed: number): [number, number][] {
  const entries: [number, number][] = [];
  let s = seed;
  for (let seq = 1; seq <= count; seq++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    entries.push([s % maxDue, seq]);
  }
  return entries;
}

test("pops in due order, ties in seq order, growing as needed", () => {
  const heap = new TimerHeap(2);
  const entries = pseudoRandomEntries(5000, 1000, 12345);
  for (const [due, seq] of entries) heap.push(due, seq);
  entries.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  expect(heap.size).toBe(5000);
  for (const [due, seq] of entries) {
    expect(heap.peekDueMs()).toBe(due);
    expect(heap.pop()).toBe(seq);
  }
  expect(heap.pop()).toBe(-1);
  expect(heap.peekDueMs()).toBeNull();
});

test("interleaved pushes and pops keep the minimum on top", () => {
  const heap = new TimerHeap();
  heap.push(50, 1);
  heap.push(10, 2);
  expect(heap.pop()).toBe(2);
  heap.push(5, 3);
  heap.push(70, 4);
  expect(heap.pop()).toBe(3);
  expect(heap.pop()).toBe(1);
  expect(heap.pop()).toBe(4);
  heap.push(1, 9);
  heap.clear();
  expect(heap.size).toBe(0);
});

test("retain drops the rejected entries and the rest still pop in due order", () => {
  const heap = new TimerHeap(2);
  const entries = pseudoRandomEntries(3000, 500, 777);
  for (const [due, seq] of entries) heap.push(due, seq);
  const kept = entries.filter(([, seq]) => seq % 3 !== 0);
  heap.retain((_due, seq) => seq % 3 !== 0);
  expect(heap.size).toBe(kept.length);
  kept.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const [due, seq] of kept) {
    expect(heap.peekDueMs()).toBe(due);
    expect(heap.pop()).toBe(seq);
  }
  expect(heap.pop()).toBe(-1);
});
