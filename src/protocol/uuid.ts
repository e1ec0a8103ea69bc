// Task ids: UUIDv7 (RFC 9562), time-ordered so new rows append to the end of every index.
// 16 bytes on the wire and in the store, canonical lowercase text in JSON and the SDK.

const HEX_DIGITS = new TextEncoder().encode("0123456789abcdef");
// Canonical text is built as ASCII bytes in one scratch array and decoded in one call: joining 20
// string pieces made a rope that every Map lookup by id then had to flatten (~1 us per id, measured).
const TEXT_AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
const textScratch = new Uint8Array(36).fill(0x2d);
const ascii = new TextDecoder();

let lastMs = 0;
let counter = 0;
// Random bits come from a pool refilled 256 ids at a time: one getRandomValues call per id was a
// measurable share of a batch submit.
const POOL_IDS = 256;
const pool = new Uint8Array(16 * POOL_IDS);
let poolNext = POOL_IDS;

/** A fresh UUIDv7 as 16 bytes: 48-bit ms timestamp, then a 12-bit counter for order within a ms, then random bits. */
export function uuidv7Bytes(nowMs: number = Date.now()): Uint8Array {
  if (nowMs <= lastMs) {
    counter++;
    if (counter > 0xfff) {
      // Counter exhausted within one ms: borrow the next ms so ids stay strictly increasing.
      lastMs++;
      counter = 0;
    }
  } else {
    lastMs = nowMs;
    counter = 0;
  }
  if (poolNext === POOL_IDS) {
    crypto.getRandomValues(pool);
    poolNext = 0;
  }
  const out = pool.slice(poolNext * 16, poolNext * 16 + 16);
  poolNext++;
  const ms = lastMs;
  out[0] = Math.floor(ms / 2 ** 40) & 0xff;
  out[1] = Math.floor(ms / 2 ** 32) & 0xff;
  out[2] = (ms >>> 24) & 0xff;
  out[3] = (ms >>> 16) & 0xff;
  out[4] = (ms >>> 8) & 0xff;
  out[5] = ms & 0xff;
  out[6] = 0x70 | ((counter >>> 8) & 0x0f);
  out[7] = counter & 0xff;
  out[8] = 0x80 | ((out[8] ?? 0) & 0x3f);
  return out;
}

export function uuidv7(nowMs?: number): string {
  return uuidToString(uuidv7Bytes(nowMs));
}

export function uuidToString(b: Uint8Array): string {
  return uuidTextAt(b, 0);
}

/** Canonical lowercase text of the 16 bytes at `offset` of `b` (the caller checked they are there). */
export function uuidTextAt(b: Uint8Array, offset: number): string {
  for (let i = 0; i < 16; i++) {
    const v = b[offset + i]!;
    const at = TEXT_AT[i]!;
    textScratch[at] = HEX_DIGITS[v >>> 4]!;
    textScratch[at + 1] = HEX_DIGITS[v & 0x0f]!;
  }
  return ascii.decode(textScratch);
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID_PATTERN.test(s);
}

/** Parses canonical text into 16 bytes; null when `s` is not a UUID. */
export function uuidFromString(s: string): Uint8Array | null {
  if (!UUID_PATTERN.test(s)) return null;
  const hex = s.replaceAll("-", "");
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Epoch ms a UUIDv7 was made at. */
export function uuidv7TimeMs(b: Uint8Array): number {
  return (b[0]! * 2 ** 40) + (b[1]! * 2 ** 32) + ((b[2]! << 24) >>> 0) + (b[3]! << 16) + (b[4]! << 8) + b[5]!;
}
