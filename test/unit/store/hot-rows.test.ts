// HotRows, the claim columns of just-inserted rows kept for claims soon after their submit, and
// readClaimRows, which serves a claim from it and reads only the other rows from the file.

import { describe, expect, test } from "bun:test";
import { HotRows } from "../../../src/store/sqlite/hot-rows.ts";
import { readClaimRows } from "../../../src/store/sqlite/row-batches.ts";
import type { Statements } from "../../../src/store/sqlite/statements.ts";
import { insertedRow, type ClaimRow } from "../../../src/store/sqlite/task-row.ts";
import { task } from "../../contract/store.contract.ts";

function row(seq: number, payloadBytes = 100): ClaimRow {
  return insertedRow(seq, new Uint8Array(16), task({ payload: new Uint8Array(payloadBytes) }), 1000);
}

describe("HotRows", () => {
  test("take hands a row out once; forget and clear drop rows", () => {
    const hot = new HotRows(1 << 20);
    for (const seq of [1, 2, 3]) hot.add(row(seq));
    expect(hot.take(2)?.seq).toBe(2);
    expect(hot.take(2)).toBeUndefined();
    hot.forget(1);
    expect(hot.take(1)).toBeUndefined();
    expect(hot.size).toBe(1);
    hot.clear();
    expect(hot.size).toBe(0);
    expect(hot.bytes).toBe(0);
  });

  test("past its byte budget the oldest rows make room; a row larger than the budget is not kept", () => {
    const hot = new HotRows(10_000);
    for (let seq = 1; seq <= 100; seq++) hot.add(row(seq));
    expect(hot.bytes).toBeLessThanOrEqual(10_000);
    const kept = hot.size;
    expect(kept).toBeGreaterThan(10);
    expect(kept).toBeLessThan(100);
    // The newest are the ones kept.
    expect(hot.take(100)?.seq).toBe(100);
    expect(hot.take(100 - kept)).toBeUndefined();
    hot.add(row(101, 20_000));
    expect(hot.take(101)).toBeUndefined();
  });

  test("bytes go back to zero once every row is taken", () => {
    const hot = new HotRows(1 << 20);
    for (let seq = 1; seq <= 50; seq++) hot.add(row(seq, seq * 7));
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
    for (const seq of [2, 4, 6]) hot.add(row(seq));
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
    hot.add(row(seq));
    hot.take(seq);
  }
  expect(hot.size).toBe(0);
  expect(hot.orderLength).toBeLessThanOrEqual(4096 + 1);
});
