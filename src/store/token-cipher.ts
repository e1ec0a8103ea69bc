// Lease tokens that cannot be guessed yet are never issued twice: a keyed permutation of the
// 32-bit token space, applied to the store's lease serial counter. Pure arithmetic over tables
// derived from a 128-bit key; knows nothing of leases or of where the key is kept.

import { createCipheriv } from "node:crypto";

/**
 * Feistel rounds over two 16-bit halves. Each round function is a table of 65,536 pseudo-random
 * 16-bit values (AES-128-CTR keystream of the key), so a round is one lookup and an XOR; eight
 * rounds, as format-preserving ciphers on small domains use, so that the tokens a worker sees of
 * its own claims do not let it work out the tokens of others'.
 */
const ROUNDS = 8;
const HALF = 0x10000;
export const TOKEN_KEY_BYTES = 16;

export class TokenCipher {
  private readonly tables: Uint16Array[];

  constructor(key: Uint8Array) {
    if (key.byteLength !== TOKEN_KEY_BYTES) throw new Error(`token key: expected ${TOKEN_KEY_BYTES} bytes, got ${key.byteLength}`);
    const stream = createCipheriv("aes-128-ctr", key, new Uint8Array(16)).update(new Uint8Array(ROUNDS * HALF * 2));
    const all = new Uint16Array(stream.buffer, stream.byteOffset, ROUNDS * HALF);
    this.tables = Array.from({ length: ROUNDS }, (_, i) => all.subarray(i * HALF, (i + 1) * HALF));
  }

  /** The token of a serial (both u32): a bijection, so distinct serials never share a token. */
  token(serial: number): number {
    let left = serial >>> 16;
    let right = serial & 0xffff;
    for (const table of this.tables) {
      const next = left ^ table[right]!;
      left = right;
      right = next;
    }
    return ((left << 16) | right) >>> 0;
  }

  /** The serial a token was made from: token() undone. */
  serial(token: number): number {
    let left = token >>> 16;
    let right = token & 0xffff;
    for (let i = ROUNDS - 1; i >= 0; i--) {
      const previous = right ^ this.tables[i]![left]!;
      right = left;
      left = previous;
    }
    return ((left << 16) | right) >>> 0;
  }
}
