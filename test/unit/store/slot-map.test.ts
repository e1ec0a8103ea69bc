// SlotMap must behave exactly like a Map of its live entries, whatever keys share a slot.

import { expect, test } from "bun:test";
import { SlotMap } from "../../../src/store/sqlite/slot-map.ts";

interface Entry {
  key: number;
  n: number;
}

test("matches a Map under random adds, replaces and deletes, with many keys sharing slots", () => {
  // 4 slots for keys up to 64: most keys collide with live ones.
  const slots = new SlotMap<Entry>((e) => e.key, 2);
  const model = new Map<number, Entry>();
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let step = 0; step < 20_000; step++) {
    const key = rand(64);
    if (rand(3) === 0) {
      expect(slots.delete(key)).toBe(model.delete(key));
    } else {
      const e = { key, n: step };
      slots.set(key, e);
      model.set(key, e);
    }
    expect(slots.size).toBe(model.size);
    const probe = rand(64);
    expect(slots.get(probe)).toBe(model.get(probe));
    expect(slots.has(probe)).toBe(model.has(probe));
  }
  expect([...slots.values()].sort((a, b) => a.key - b.key)).toEqual([...model.values()].sort((a, b) => a.key - b.key));
  slots.clear();
  expect(slots.size).toBe(0);
  expect([...slots.values()]).toEqual([]);
});

test("consecutive keys, added and removed in batches as leases are, never leave a slot behind", () => {
  const slots = new SlotMap<Entry>((e) => e.key, 8);
  const live: Entry[][] = [];
  for (let batch = 0, key = 1; batch < 1000; batch++) {
    const b: Entry[] = [];
    for (let i = 0; i < 100; i++, key++) {
      const e = { key, n: 0 };
      slots.set(key, e);
      b.push(e);
    }
    live.push(b);
    if (live.length > 5) for (const e of live.shift()!) expect(slots.delete(e.key)).toBe(true);
  }
  expect(slots.size).toBe(500);
  for (const b of live) for (const e of b) expect(slots.get(e.key)).toBe(e);
});
