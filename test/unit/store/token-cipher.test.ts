// The keyed permutation behind lease tokens: one token per serial and back, no two serials alike,
// and nothing a worker could extrapolate from the tokens of consecutive claims.
import { expect, test } from "bun:test";
import { TokenCipher } from "../../../src/store/token-cipher.ts";

const key = (fill: number): Uint8Array => new Uint8Array(16).fill(fill);

test("serial(token(s)) is s, and distinct serials get distinct u32 tokens", () => {
  const cipher = new TokenCipher(key(1));
  const seen = new Set<number>();
  const serials = [0, 1, 2, 0xffff, 0x10000, 0xfffffffe, 0xffffffff];
  for (let s = 1_000_000; s < 1_200_000; s++) serials.push(s);
  for (const s of serials) {
    const t = cipher.token(s);
    expect(Number.isInteger(t) && t >= 0 && t <= 0xffffffff).toBe(true);
    expect(cipher.serial(t)).toBe(s);
    seen.add(t);
  }
  expect(seen.size).toBe(serials.length);
});

test("consecutive serials give unrelated tokens, and another key another sequence", () => {
  const a = new TokenCipher(key(1));
  const b = new TokenCipher(key(2));
  const tokens = Array.from({ length: 1000 }, (_, i) => a.token(5000 + i));
  const steps = tokens.slice(1).map((t, i) => t - tokens[i]!);
  // No fixed stride, and no small one: the next token cannot be worked out from the last.
  expect(new Set(steps).size).toBeGreaterThan(990);
  expect(steps.filter((d) => Math.abs(d) < 65_536).length).toBeLessThan(5);
  expect(tokens.filter((t, i) => t === b.token(5000 + i)).length).toBeLessThan(2);
});

test("a key must be 16 bytes", () => {
  expect(() => new TokenCipher(new Uint8Array(8))).toThrow("16 bytes");
});
