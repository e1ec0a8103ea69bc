// The ready index against a sorted reference: priority then FIFO, removals, ring growth, memory per entry.

import { describe, expect, test } from "bun:test";
import { QueueReady, ReadyIndex } from "../../../src/store/sqlite/ready-index.ts";

// A seeded generator so the randomized comparison is repeatable.
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe("QueueReady", () => {
  test("pops highest priority first, FIFO within a level, across all 256 levels", () => {
    const q = new QueueReady();
    let seq = 0;
    for (let round = 0; round < 3; round++) for (let p = 0; p < 256; p++) q.push(++seq, (p * 131) % 256, seq);
    const out: { seq: number; priority: number }[] = [];
    for (let e = q.pop(); e !== null; e = q.pop()) out.push(e);
    expect(out).toHaveLength(768);
    for (let i = 1; i < out.length; i++) {
      const a = out[i - 1]!;
      const b = out[i]!;
      expect(a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq)).toBe(true);
    }
    expect(q.size).toBe(0);
  });

  test("matches a sorted reference under random pushes, pops and removals", () => {
    const random = lcg(7);
    const q = new QueueReady();
    const live = new Map<number, number>();
    let seq = 0;
    for (let step = 0; step < 20_000; step++) {
      const r = random();
      if (r < 0.55) {
        const p = Math.floor(random() * 256);
        q.push(++seq, p, step);
        live.set(seq, p);
      } else if (r < 0.65 && live.size > 0) {
        const keys = [...live.keys()];
        const victim = keys[Math.floor(random() * keys.length)]!;
        q.remove(victim, live.get(victim)!);
        live.delete(victim);
      } else {
        let best: [number, number] | null = null;
        for (const [s, p] of live) if (best === null || p > best[1] || (p === best[1] && s < best[0])) best = [s, p];
        const got = q.pop();
        if (best === null) expect(got).toBeNull();
        else {
          expect(got?.seq).toBe(best[0]);
          live.delete(best[0]);
        }
      }
      expect(q.size).toBe(live.size);
    }
  });

  test("tier counts and the oldest ready time skip removed entries", () => {
    const q = new QueueReady();
    q.push(1, 255, 100);
    q.push(2, 150, 50);
    q.push(3, 10, 70);
    expect(q.tierCounts()).toEqual({ high: 1, normal: 1, low: 1 });
    expect(q.oldestReadyAtMs()).toBe(50);
    q.remove(2, 150);
    expect(q.tierCounts()).toEqual({ high: 1, normal: 0, low: 1 });
    expect(q.oldestReadyAtMs()).toBe(70);
    expect(q.pop()?.seq).toBe(1);
    expect(q.pop()?.seq).toBe(3);
    expect(q.pop()).toBeNull();
    expect(q.oldestReadyAtMs()).toBeNull();
  });

  test("a removed then re-added seq comes out once", () => {
    const q = new QueueReady();
    q.push(5, 100, 1);
    q.remove(5, 100);
    q.push(5, 100, 2);
    expect(q.size).toBe(1);
    expect(q.pop()).toEqual({ seq: 5, priority: 100, readyAtMs: 2 });
    expect(q.pop()).toBeNull();
  });

  test("rings grow past their first capacity and wrap around without losing order", () => {
    const q = new QueueReady();
    let next = 0;
    let expected = 0;
    for (let i = 0; i < 50; i++) {
      for (let k = 0; k < 37; k++) q.push(++next, 7, next);
      for (let k = 0; k < 30; k++) expect(q.pop()?.seq).toBe(++expected);
    }
    while (q.size > 0) expect(q.pop()?.seq).toBe(++expected);
    expect(expected).toBe(next);
  });

  test("costs 16 bytes per ready task (plus ring slack), not objects", () => {
    const q = new QueueReady();
    for (let i = 1; i <= 100_000; i++) q.push(i, 150, i);
    expect(q.capacityBytes).toBeLessThanOrEqual(100_000 * 16 * 2);
  });
});

describe("ReadyIndex", () => {
  test("popBest takes the highest priority over queues, then the longest-ready", () => {
    const idx = new ReadyIndex();
    idx.push("a", 1, 100, 10);
    idx.push("b", 2, 100, 5);
    idx.push("c", 3, 101, 50);
    idx.push("a", 4, 100, 5);
    expect(idx.size).toBe(4);
    expect(idx.popBest(["a", "b"])?.seq).toBe(2);
    expect(idx.popBest(["a", "b", "c"])?.seq).toBe(3);
    expect(idx.popBest(["b", "a"])?.queue).toBe("a");
    expect(idx.hasReady(["b", "c"])).toBe(false);
    expect(idx.hasReady(["a"])).toBe(true);
    idx.remove("a", 4, 100);
    expect(idx.popBest(["a"])).toBeNull();
    expect(idx.size).toBe(0);
  });
});

describe("unpop", () => {
  test("an entry put back after popBest comes out first again, ahead of its level's later entries", () => {
    const index = new ReadyIndex();
    for (let seq = 1; seq <= 40; seq++) index.push("q", seq, seq % 2 === 0 ? 200 : 100, seq);
    const popped = index.popBest(["q"])!;
    expect(popped.seq).toBe(2);
    const size = index.size;
    index.unpop(popped);
    expect(index.size).toBe(size + 1);
    const order: number[] = [];
    for (let e = index.popBest(["q"]); e !== null; e = index.popBest(["q"])) order.push(e.seq);
    const evens = Array.from({ length: 20 }, (_, i) => 2 * (i + 1));
    const odds = Array.from({ length: 20 }, (_, i) => 2 * i + 1);
    expect(order).toEqual([...evens, ...odds]);
  });

  test("unpop into a full ring grows it", () => {
    const index = new ReadyIndex();
    for (let seq = 1; seq <= 16; seq++) index.push("q", seq, 5, seq);
    const popped = index.popBest(["q"])!;
    index.push("q", 17, 5, 17);
    index.unpop(popped);
    const order: number[] = [];
    for (let e = index.popBest(["q"]); e !== null; e = index.popBest(["q"])) order.push(e.seq);
    expect(order).toEqual(Array.from({ length: 17 }, (_, i) => i + 1));
  });
});

describe("snapshot support (memory-snapshot.ts)", () => {
  test("forEachLevel copies out the live entries in pop order, leaving out a removed seq's dead entry; pushAll rebuilds the same pops, also into a ring that wraps", () => {
    const q = new ReadyIndex();
    for (let seq = 1; seq <= 40; seq++) q.push(seq % 2 === 0 ? "a" : "b", seq, [5, 9, 200][seq % 3]!, 1000 + seq);
    // Cancelled while pending, then retried: its first entry is dead, the one pushed after it live.
    q.remove("a", 8, [5, 9, 200][8 % 3]!);
    q.push("a", 8, [5, 9, 200][8 % 3]!, 5000);
    q.remove("b", 13, [5, 9, 200][13 % 3]!);
    const seen: [string, number, number, number][] = [];
    q.forEachLevel((queue, priority, seqs, ats) => seqs.forEach((seq, i) => seen.push([queue, seq, priority, ats[i]!])));
    expect(seen).toHaveLength(39);
    expect(seen.filter(([, seq]) => seq === 8)).toEqual([["a", 8, 200, 5000]]);
    expect(seen.some(([, seq]) => seq === 13)).toBe(false);

    // Rebuilt level by level with pushAll into an index whose rings already wrapped around.
    const rebuilt = new ReadyIndex();
    for (let i = 0; i < 12; i++) rebuilt.push("a", 1000 + i, 200, 0);
    for (let i = 0; i < 12; i++) rebuilt.popBest(["a"]);
    const levels = new Map<string, [string, number, number[], number[]]>();
    for (const [queue, seq, priority, at] of seen) {
      const key = `${queue}/${priority}`;
      if (!levels.has(key)) levels.set(key, [queue, priority, [], []]);
      levels.get(key)![2].push(seq);
      levels.get(key)![3].push(at);
    }
    for (const [queue, priority, seqs, ats] of levels.values()) rebuilt.pushAll(queue, priority, Float64Array.from(seqs), Float64Array.from(ats));
    expect(rebuilt.size).toBe(q.size);
    const drain = (index: ReadyIndex): number[] => {
      const out: number[] = [];
      for (let e = index.popBest(["a", "b"]); e !== null; e = index.popBest(["a", "b"])) out.push(e.seq);
      return out;
    };
    expect(drain(rebuilt)).toEqual(drain(q));
  });
});
