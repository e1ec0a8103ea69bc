// jsonDeeperThan (submit-spec.ts, issue 19.7): nesting counted exactly as JSON nests, brackets
// inside strings (escaped quotes included) ignored, the limit itself allowed.

import { expect, test } from "bun:test";
import { jsonDeeperThan } from "../../../src/broker/submit-spec.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const nested = (depth: number): string => "[".repeat(depth) + "]".repeat(depth);

test("depth up to the limit passes, one more does not, for arrays and objects alike", () => {
  expect(jsonDeeperThan(enc(nested(10)), 10)).toBe(false);
  expect(jsonDeeperThan(enc(nested(11)), 10)).toBe(true);
  expect(jsonDeeperThan(enc('{"a":'.repeat(11) + "1" + "}".repeat(11)), 10)).toBe(true);
  expect(jsonDeeperThan(enc('{"a":'.repeat(10) + "1" + "}".repeat(10)), 10)).toBe(false);
});

test("many brackets side by side are not depth; brackets in strings, after escaped quotes too, do not count", () => {
  expect(jsonDeeperThan(enc(`[${Array.from({ length: 1000 }, () => "[1]").join(",")}]`), 10)).toBe(false);
  expect(jsonDeeperThan(enc(JSON.stringify({ s: "[".repeat(100) })), 10)).toBe(false);
  expect(jsonDeeperThan(enc(JSON.stringify({ s: '\\"' + "[".repeat(100) + '"' })), 10)).toBe(false);
  expect(jsonDeeperThan(enc(`["\\\\"${",[".repeat(11)}${"]".repeat(11)}]`), 10)).toBe(true);
});
