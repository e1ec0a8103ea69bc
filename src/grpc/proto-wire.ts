// Protobuf wire primitives for the hand-written codecs of the gRPC hot paths (submit-codec.ts,
// work-codec.ts): a reader that throws FALLBACK at anything it does not take the way protobufjs
// does (the codec then asks proto-loader), and writers of varints and strings. Bytes only.

/** Thrown inside a fast path: "not a case it takes, ask proto-loader". */
export class Fallback extends Error {}
export const FALLBACK = new Fallback("fallback");

const EMPTY = Buffer.alloc(0);

// ---- reading -----------------------------------------------------------------------------------

/**
 * The one reader: the bytes being decoded, the position, and the high 32 bits of the last varint
 * read (readVarint returns the low 32). Decoding is synchronous, so one is enough; a decoder
 * starts with `begin` and ends with `finish` (which lets the bytes go).
 */
export const rd: { buf: Buffer; pos: number; hi: number } = { buf: EMPTY, pos: 0, hi: 0 };

export function begin(bytes: Buffer): void {
  rd.buf = bytes;
  rd.pos = 0;
}

export function finish(): void {
  rd.buf = EMPTY;
}

/** Runs a decoder over `bytes` between begin and finish; null when it gave up (FALLBACK): proto-loader's case. */
export function tryRead<T>(bytes: Buffer, read: (end: number) => T): T | null {
  begin(bytes);
  try {
    return read(bytes.length);
  } catch (err) {
    if (err === FALLBACK) return null;
    throw err;
  } finally {
    finish();
  }
}

/** Every field-1 embedded message up to `end` (a `repeated` message field 1), each read by `item` to its own end; other fields skipped. */
export function readRepeatedField1<T>(end: number, item: (stop: number) => T): T[] {
  const items: T[] = [];
  while (rd.pos < end) {
    const tag = readTag(end);
    if (tag >>> 3 !== 1) {
      skipField(tag & 7, end);
      continue;
    }
    if ((tag & 7) !== 2) throw FALLBACK;
    items.push(item(readLengthEnd(end)));
  }
  return items;
}

/**
 * A varint's low 32 bits (unsigned); its high 32 bits in `rd.hi`. At most 10 bytes, else Fallback;
 * unless `long`, at most 5: protobufjs reads a 32-bit varint (tags, lengths, uint32, bool, enum)
 * of more bytes by skipping five, which the fast path leaves to it.
 */
export function readVarint(end: number, long = false): number {
  const start = rd.pos;
  const lo = readVarintBits(end);
  if (!long && rd.pos - start > 5) throw FALLBACK;
  return lo;
}

export function readVarintBits(end: number): number {
  let lo = 0;
  rd.hi = 0;
  let b = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (rd.pos >= end) throw FALLBACK;
    b = rd.buf[rd.pos++]!;
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) return lo >>> 0;
  }
  if (rd.pos >= end) throw FALLBACK;
  b = rd.buf[rd.pos++]!;
  lo |= (b & 0x7f) << 28;
  rd.hi = (b & 0x7f) >> 4;
  if (b < 0x80) return lo >>> 0;
  for (let shift = 3; shift < 38; shift += 7) {
    if (rd.pos >= end) throw FALLBACK;
    b = rd.buf[rd.pos++]!;
    rd.hi |= (b & 0x7f) << shift;
    if (b < 0x80) {
      rd.hi >>>= 0;
      return lo >>> 0;
    }
  }
  throw FALLBACK;
}

/** A length-delimited field's end, checked against its message's end. */
export function readLengthEnd(end: number): number {
  const len = readVarint(end);
  if (rd.hi !== 0 || len > end - rd.pos) throw FALLBACK;
  return rd.pos + len;
}

/** Skips an unknown field of wire type `wire`; groups and invalid wire types are proto-loader's. */
export function skipField(wire: number, end: number): void {
  switch (wire) {
    case 0:
      readVarint(end, true);
      return;
    case 1:
      if (end - rd.pos < 8) throw FALLBACK;
      rd.pos += 8;
      return;
    case 2:
      rd.pos = readLengthEnd(end);
      return;
    case 5:
      if (end - rd.pos < 4) throw FALLBACK;
      rd.pos += 4;
      return;
    default:
      throw FALLBACK;
  }
}

/** The tag's field number, with its wire type checked; Fallback for field 0. */
export function readTag(end: number): number {
  const tag = readVarint(end);
  if (rd.hi !== 0 || tag >>> 3 === 0) throw FALLBACK;
  return tag;
}

/** Buffer's own UTF-8 slice (what protobufjs's reader uses): half the cost of toString("utf8", ...). */
type Utf8Sliceable = Buffer & { utf8Slice(start: number, end: number): string };

export function readString(start: number, stop: number): string {
  return (rd.buf as Utf8Sliceable).utf8Slice(start, stop);
}

/**
 * The tasks of one batch mostly share their type and queue: the last bytes decoded in each slot
 * and their string are kept, and equal bytes give the same string without decoding them again.
 */
export interface StringSlot {
  readonly bytes: Buffer;
  len: number;
  text: string;
}
export const TYPE_SLOT: StringSlot = { bytes: Buffer.alloc(256), len: -1, text: "" };
export const QUEUE_SLOT: StringSlot = { bytes: Buffer.alloc(256), len: -1, text: "" };

export function cachedString(slot: StringSlot, start: number, stop: number): string {
  const len = stop - start;
  if (len > slot.bytes.length) return readString(start, stop);
  if (slot.len === len) {
    const kept = slot.bytes;
    let i = 0;
    while (i < len && kept[i] === rd.buf[start + i]) i++;
    if (i === len) return slot.text;
  }
  slot.text = readString(start, stop);
  rd.buf.copy(slot.bytes, 0, start, stop);
  slot.len = len;
  return slot.text;
}

// ---- writing -----------------------------------------------------------------------------------

/** Bytes of a varint of a non-negative integer below 2^64 given as a JS number. */
export function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

export function writeVarint(out: Buffer, at: number, v: number): number {
  if (v <= 0x7fffffff) {
    // 31-bit integers (tags, lengths, tokens, counts): integer shifts, not float division.
    while (v > 0x7f) {
      out[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    out[at++] = v;
    return at;
  }
  while (v >= 0x80) {
    out[at++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  out[at++] = v;
  return at;
}

/** A string's UTF-8 length: its length when it is short ASCII (most ids, types, queues), else Buffer's count. */
export function utf8Length(s: string): number {
  if (s.length <= 64) {
    let i = 0;
    while (i < s.length && s.charCodeAt(i) < 0x80) i++;
    if (i === s.length) return s.length;
  }
  return Buffer.byteLength(s, "utf8");
}

/** Writes `s` of UTF-8 length `len` at `at`; a byte loop when it is ASCII (len equals its length). */
export function writeString(out: Buffer, at: number, s: string, len: number): number {
  if (len === s.length && len <= 64) {
    for (let i = 0; i < len; i++) out[at + i] = s.charCodeAt(i);
    return at + len;
  }
  return at + out.write(s, at, len, "utf8");
}

export const isUint32 = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
export const isUint64 = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
export const present = (v: unknown): boolean => v !== null && v !== undefined;


/**
 * A growable writer for nested messages: `open(field)` starts a length-delimited field whose
 * length is written by `close(mark)` (its body moved right when the length takes more than one
 * byte), so a message is written in one pass. `take()` returns a copy and resets it for reuse.
 */
export class Out {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private at = 0;

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
  }

  private tag(field: number, wire: number): void {
    this.room(2);
    this.at = writeVarint(this.buf, this.at, (field << 3) | wire);
  }

  varint(field: number, v: number): void {
    this.tag(field, 0);
    this.room(10);
    this.at = writeVarint(this.buf, this.at, v);
  }

  string(field: number, s: string): void {
    const len = utf8Length(s);
    this.tag(field, 2);
    this.room(10 + len);
    this.at = writeVarint(this.buf, this.at, len);
    this.at = writeString(this.buf, this.at, s, len);
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, 2);
    this.room(10 + b.byteLength);
    this.at = writeVarint(this.buf, this.at, b.byteLength);
    this.buf.set(b, this.at);
    this.at += b.byteLength;
  }

  /** Starts a length-delimited field; returns the mark `close` takes. */
  open(field: number): number {
    this.tag(field, 2);
    this.room(1);
    this.at++;
    return this.at;
  }

  close(mark: number): void {
    const len = this.at - mark;
    const extra = varintSize(len) - 1;
    if (extra > 0) {
      this.room(extra);
      this.buf.copyWithin(mark + extra, mark, this.at);
      this.at += extra;
    }
    writeVarint(this.buf, mark - 1, len);
  }

  take(): Buffer {
    const out = Buffer.allocUnsafe(this.at);
    this.buf.copy(out, 0, 0, this.at);
    this.at = 0;
    return out;
  }

  reset(): void {
    this.at = 0;
  }
}
