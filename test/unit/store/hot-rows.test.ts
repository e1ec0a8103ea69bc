// HotRows, the claim columns of just-inserted rows kept for claims soon after their submit, and
// readClaimRows, which serves a claim from it and reads only the other rows from the file.

import { describe, expect, test } from "bun:test";
import { HotRows } from "../../../src/store/sqlite/hot-rows.ts";
import { readClaimRows } from "../../../src/store/sqlite/row-batches.ts";
import type { Statements } from "../../../src/store/sqlite/statements.ts";
import { insertedRow, type ClaimRow } from "../../../src/store/sqlite/task-row.ts";
import { task } from "../../contract/store.contract.ts";

function row(seq: number, payloadBytes = 100, insertedAtMs = 1000): ClaimRow {
  return insertedRow(seq, new Uint8Array(16), task({ payload: new Uint8Array(payloadBytes) }), insertedAtMs);
}

describe("HotRows", () => {
  test("take hands a row out once; forget and clear drop rows", () => {
    const hot = new HotRows(1 << 20);
    for (const seq of [1, 2, 3]) hot.add(row(seq), 1000);
    expect(hot.take(2)?.seq).toBe(2);
    expect(hot.take(2)).toBeUndefined();
    hot.forget(1);
    expect(hot.take(1)).toBeUndefined();
    expect(hot.size).toBe(1);
    hot.clear();
    expect(hot.size).toBe(0);
    expect(hot.bytes).toBe(0);
  });

  test("a full cache keeps its young rows, the next to be claimed under a backlog, and turns new ones away", () => {
    const hot = new HotRows(10_000);
    for (let seq = 1; seq <= 100; seq++) hot.add(row(seq), 1000 + seq);
    expect(hot.bytes).toBeLessThanOrEqual(10_000);
    const kept = hot.size;
    expect(kept).toBeGreaterThan(10);
    expect(kept).toBeLessThan(100);
    expect(hot.take(1)?.seq).toBe(1);
    expect(hot.take(kept + 1)).toBeUndefined();
    // A taken row makes room for one more.
    hot.add(row(101), 1200);
    expect(hot.take(101)?.seq).toBe(101);
    // A row larger than the whole budget is never kept.
    hot.add(row(102, 20_000), 1200);
    expect(hot.take(102)).toBeUndefined();
  });

  test("rows unclaimed for 10 s make room for new ones, oldest first", () => {
    const hot = new HotRows(10_000);
    for (let seq = 1; seq <= 100; seq++) hot.add(row(seq, 100, 1000), 1000);
    const kept = hot.size;
    hot.add(row(200, 100, 11_000), 11_000);
    expect(hot.take(200)?.seq).toBe(200);
    expect(hot.take(1)).toBeUndefined();
    expect(hot.take(2)?.seq).toBe(2);
    expect(hot.size).toBe(kept - 2);
  });

  test("bytes go back to zero once every row is taken", () => {
    const hot = new HotRows(1 << 20);
    for (let seq = 1; seq <= 50; seq++) hot.add(row(seq, seq * 7), 1000);
    for (let seq = 1; seq <= 50; seq++) hot.take(seq);
    expect(hot.bytes).toBe(0);
  });
});

describe("readClaimRows", () => {
  /** Statements whose claim read records the seqs it was asked for and returns a row for each. */
  function recordingStatements(asked: number[]): Statements {
    return {
      claimRows: () => ({
        all: (...seqs: number[]) => {
          const real = seqs.filter((s) => s !== 0);
          asked.push(...real);
          return real.map((s) => row(s));
        },
      }),
    } as unknown as Statements;
  }

  test("rows in memory are not read from the file; the others are, and each comes back once", () => {
    const hot = new HotRows(1 << 20);
    for (const seq of [2, 4, 6]) hot.add(row(seq), 1000);
    const asked: number[] = [];
    const rows = readClaimRows(recordingStatements(asked), [1, 2, 3, 4, 5, 6], hot);
    expect(asked.sort()).toEqual([1, 3, 5]);
    expect([...rows.keys()].sort()).toEqual([1, 2, 3, 4, 5, 6]);
    // Served rows are gone from memory: a second claim of them would read the file.
    expect(hot.size).toBe(0);
  });
});

test("rows taken as fast as they come leave no bookkeeping behind: the eviction order stays bounded", () => {
  const hot = new HotRows(1 << 20);
  for (let seq = 1; seq <= 100_000; seq++) {
    hot.add(row(seq), 1000);
    hot.take(seq);
  }
  expect(hot.size).toBe(0);
  expect(hot.orderLength).toBeLessThanOrEqual(4096 + 1);
});
