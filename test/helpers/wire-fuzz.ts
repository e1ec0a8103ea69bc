// Seeded random values and a protobuf wire writer of the tests' own (not the codecs'), for the
// fuzz tests that hold the hand-written gRPC codecs equal to proto-loader's.

import { seededRandom } from "./seeded-random.ts";

/** mulberry32: a small seeded generator (seeded-random.ts). */
export const rng = seededRandom;

export const random = rng(23);

export const int = (n: number): number => Math.floor(random() * n);
export const chance = (p: number): boolean => random() < p;
export const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

export const CHARS = ["a", "Z", "0", ".", ":", "-", "é", "ß", "日", "本", "😀", "\u0000", " "];
export const text = (max: number): string => Array.from({ length: int(max + 1) }, () => pick(CHARS)).join("");
export const bytes = (max: number): Buffer => Buffer.from(Array.from({ length: int(max + 1) }, () => int(256)));
export const uint32 = (): number => pick([0, 1, 127, 128, 150, 255, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, int(2 ** 32)]);
export const uint64 = (): number => pick([0, 1, 127, 128, 2 ** 32 - 1, 2 ** 32, 2 ** 35 + 7, Date.now(), Number.MAX_SAFE_INTEGER, int(2 ** 53)]);

// ---- a wire writer of its own (not the codec's): to build what a protobuf writer may send -----------

export function varint(v: bigint, pad = 0): number[] {
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n || pad > 0) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  for (let i = 0; i < pad; i++) out.push(i === pad - 1 ? 0 : 0x80);
  return out;
}
export const tag = (field: number, wire: number): number[] => varint(BigInt((field << 3) | wire));
export const lengthDelimited = (field: number, body: readonly number[]): number[] => [...tag(field, 2), ...varint(BigInt(body.length)), ...body];

/** An unknown field (numbers 12-40 in a TaskSpec, 2-40 outside) of any wire type but groups. */
export function unknownField(minField: number): number[] {
  const field = minField + int(30);
  switch (pick([0, 1, 2, 5])) {
    case 0:
      return [...tag(field, 0), ...varint(BigInt(uint64()))];
    case 1:
      return [...tag(field, 1), ...Array.from({ length: 8 }, () => int(256))];
    case 2:
      return lengthDelimited(field, [...bytes(10)]);
    default:
      return [...tag(field, 5), ...Array.from({ length: 4 }, () => int(256))];
  }
}

export function corrupt(b: Buffer): Buffer {
  const c = Buffer.from(b);
  if (c.length === 0) return Buffer.from([int(256)]);
  switch (int(3)) {
    case 0:
      c[int(c.length)] = int(256);
      return c;
    case 1:
      return c.subarray(0, int(c.length));
    default:
      return Buffer.concat([c, Buffer.from([int(256), int(256)])]);
  }
}

/** What a function gives: its value, or its error's message. */
export function outcome(fn: () => unknown): { value: unknown } | { error: string } {
  try {
    return { value: fn() };
  } catch (err) {
    return { error: String(err) };
  }
}

