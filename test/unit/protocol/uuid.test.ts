import { expect, test } from "bun:test";
import { ByteReader } from "../../../src/protocol/byte-reader.ts";
import { isUuid, uuidFromString, uuidTextAt, uuidToString, uuidv7Bytes } from "../../../src/protocol/uuid.ts";

/** The canonical text spelled out the slow, obvious way. */
function reference(b: Uint8Array): string {
  const hex = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

test("the text of 16 bytes is canonical lowercase for every byte value, and parses back to the same bytes", () => {
  for (let start = 0; start < 256; start += 16) {
    const bytes = Uint8Array.from({ length: 16 }, (_, i) => (start + i * 17) & 0xff);
    const text = uuidToString(bytes);
    expect(text).toBe(reference(bytes));
    expect(isUuid(text)).toBe(true);
    expect(uuidFromString(text)).toEqual(bytes);
  }
});

test("each call returns its own string: the scratch buffer behind them is not shared with earlier results", () => {
  const a = uuidv7Bytes(1_000);
  const b = uuidv7Bytes(2_000);
  const textA = uuidToString(a);
  const textB = uuidToString(b);
  expect(textA).not.toBe(textB);
  expect(textA).toBe(reference(a));
  expect(textB).toBe(reference(b));
  const map = new Map([[textA, 1]]);
  expect(map.get(reference(a))).toBe(1);
});

test("the text at an offset reads those 16 bytes only, as ByteReader.uuid does", () => {
  const id = uuidv7Bytes(3_000);
  const frame = new Uint8Array(40).fill(0xff);
  frame.set(id, 8);
  expect(uuidTextAt(frame, 8)).toBe(reference(id));
  const reader = new ByteReader(frame);
  reader.u32("skip");
  reader.u32("skip");
  expect(reader.uuid("id")).toBe(reference(id));
  expect(() => new ByteReader(frame.subarray(0, 10)).uuid("id")).toThrow(/id/);
});
