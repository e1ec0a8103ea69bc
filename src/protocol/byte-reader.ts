// Bounds-checked big-endian reads over one frame body. Every read checks the bytes are there
// first and names the field when they are not; nothing here allocates from a length it has not
// checked against the bytes left. Throws only ProtocolError (InvalidField).

import { invalidField, type ProtocolError } from "./protocol-error.ts";
import { uuidTextAt } from "./uuid.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const f32Scratch = new DataView(new ArrayBuffer(4));
/** Below this many bytes a hand-rolled ASCII decode beats a TextDecoder call. */
const ASCII_FAST_PATH_MAX = 64;

/**
 * Names (task types, queues, worker ids) repeat on nearly every message; a small direct-mapped
 * cache returns the same string without building a new one (~3x faster than decoding on a hit).
 * Shared by all readers: it only ever holds strings that came off the wire, never references to
 * a frame's bytes.
 */
const INTERN_SLOTS = 1024;
const INTERN_MAX_BYTES = 48;
const internCache: (string | undefined)[] = new Array(INTERN_SLOTS).fill(undefined);

export class ByteReader {
  readonly buf: Uint8Array;
  pos = 0;
  /** Set once the request id has been read, so errors can carry it. */
  requestId: number | null = null;
  /** While decoding a list item: error fields become `${listName}[${listIndex}].${field}`. */
  listName: string | null = null;
  listIndex = 0;

  constructor(buf: Uint8Array) {
    this.buf = buf;
  }

  fail(field: string, message: string): ProtocolError {
    const name = this.listName === null ? field : `${this.listName}[${this.listIndex}].${field}`;
    return invalidField(name, message, this.requestId);
  }

  private need(field: string, n: number): void {
    if (this.buf.length - this.pos < n) {
      throw this.fail(field, `truncated: needs ${n} bytes, ${this.buf.length - this.pos} left`);
    }
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  u8(field: string): number {
    this.need(field, 1);
    return this.buf[this.pos++]!;
  }

  u16(field: string): number {
    this.need(field, 2);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 2;
    return (b[p]! << 8) | b[p + 1]!;
  }

  u32(field: string): number {
    this.need(field, 4);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }

  /** u64 as a JS number: values above 2^53 - 1 cannot be exact, so they are rejected. */
  u64(field: string): number {
    const hi = this.u32(field);
    const lo = this.u32(field);
    if (hi > 0x1fffff) throw this.fail(field, `u64 value above 2^53-1 (high word 0x${hi.toString(16)})`);
    return hi * 0x1_0000_0000 + lo;
  }

  /** A u64 timestamp where 0 means absent. */
  u64OrNull(field: string): number | null {
    const v = this.u64(field);
    return v === 0 ? null : v;
  }

  f32(field: string): number {
    this.need(field, 4);
    for (let i = 0; i < 4; i++) f32Scratch.setUint8(i, this.buf[this.pos + i]!);
    this.pos += 4;
    return f32Scratch.getFloat32(0, false);
  }

  /** A u8 that must be 0 or 1. */
  bool(field: string): boolean {
    const v = this.u8(field);
    if (v > 1) throw this.fail(field, `boolean must be 0 or 1, got ${v}`);
    return v === 1;
  }

  /** A u8 index into a list of names. */
  pick<T extends string>(field: string, names: readonly T[]): T {
    const v = this.u8(field);
    const name = names[v];
    if (name === undefined) throw this.fail(field, `${v} is not one of 0..${names.length - 1}`);
    return name;
  }

  uuid(field: string): string {
    this.need(field, 16);
    const p = this.pos;
    this.pos = p + 16;
    return uuidTextAt(this.buf, p);
  }

  /** str: u16 byte length + UTF-8, at most maxBytes. */
  str(field: string, maxBytes: number): string {
    const len = this.u16(field);
    return this.utf8(field, len, maxBytes);
  }

  /** A str that is a name likely seen before (type, queue, worker id): decoded through the intern cache. */
  name(field: string, maxBytes: number): string {
    const len = this.u16(field);
    if (len > INTERN_MAX_BYTES) return this.utf8(field, len, maxBytes);
    if (len > maxBytes) throw this.fail(field, `${len} bytes is over the limit of ${maxBytes}`);
    this.need(field, len);
    const b = this.buf;
    const start = this.pos;
    const stop = start + len;
    let h = 0x811c9dc5;
    for (let i = start; i < stop; i++) {
      const c = b[i]!;
      if (c >= 0x80) return this.utf8(field, len, maxBytes);
      h = Math.imul(h ^ c, 0x01000193);
    }
    this.pos = stop;
    const slot = (h >>> 0) & (INTERN_SLOTS - 1);
    const hit = internCache[slot];
    if (hit !== undefined && hit.length === len) {
      let i = 0;
      while (i < len && hit.charCodeAt(i) === b[start + i]) i++;
      if (i === len) return hit;
    }
    let s = "";
    for (let i = start; i < stop; i++) s += String.fromCharCode(b[i]!);
    internCache[slot] = s;
    return s;
  }

  /** text: u32 byte length + UTF-8, for long texts (error messages, JSON). */
  text(field: string, maxBytes: number): string {
    const len = this.u32(field);
    return this.utf8(field, len, maxBytes);
  }

  /**
   * text, cut to its first `keepBytes` (at a character boundary): for task error messages, where
   * a long stack trace must not cost the worker its report. The rest is skipped, bounded by the frame.
   */
  clippedText(field: string, keepBytes: number): string {
    const len = this.u32(field);
    if (len <= keepBytes) return this.utf8(field, len, keepBytes);
    this.need(field, len);
    const end = this.pos + len;
    let cut = keepBytes;
    while (cut > 0 && (this.buf[this.pos + cut]! & 0xc0) === 0x80) cut--;
    const s = this.utf8(field, cut, keepBytes);
    this.pos = end;
    return s;
  }

  /**
   * bytes: u32 length + raw. Returns a copy: the frame's buffer may be reused after decoding, and
   * a payload kept must not pin the read chunk it came in. A frame decoded from a socket chunk is
   * a Node Buffer, whose slice() is a view, not a copy: the copy is made explicitly.
   */
  bytes(field: string, maxBytes: number): Uint8Array {
    const len = this.u32(field);
    if (len > maxBytes) throw this.fail(field, `${len} bytes is over the limit of ${maxBytes}`);
    this.need(field, len);
    const out = new Uint8Array(this.buf.subarray(this.pos, this.pos + len));
    this.pos += len;
    return out;
  }

  /** A list's u16 count, checked so that `count` items of at least `minItemBytes` fit in what is left. */
  count(field: string, minItemBytes: number, maxCount: number): number {
    const n = this.u16(field);
    if (n > maxCount) throw this.fail(field, `${n} items is over the limit of ${maxCount}`);
    if (n * minItemBytes > this.remaining) {
      throw this.fail(field, `truncated: ${n} items need at least ${n * minItemBytes} bytes, ${this.remaining} left`);
    }
    return n;
  }

  /**
   * A list: its u16 count (checked as `count` does), then each item read by `readItem`, with error
   * fields named `${field}[i].<item field>`.
   */
  list<T>(field: string, minItemBytes: number, maxCount: number, readItem: (r: ByteReader) => T): T[] {
    const n = this.count(field, minItemBytes, maxCount);
    const items: T[] = new Array(n);
    this.listName = field;
    for (let i = 0; i < n; i++) {
      this.listIndex = i;
      items[i] = readItem(this);
    }
    this.listName = null;
    return items;
  }

  /** The message must end exactly here: unknown trailing bytes are rejected, not skipped. */
  end(): void {
    if (this.pos !== this.buf.length) {
      throw invalidField("body", `${this.buf.length - this.pos} unexpected trailing bytes`, this.requestId);
    }
  }

  private utf8(field: string, len: number, maxBytes: number): string {
    if (len > maxBytes) throw this.fail(field, `${len} bytes is over the limit of ${maxBytes}`);
    this.need(field, len);
    const b = this.buf;
    const start = this.pos;
    const stop = start + len;
    this.pos = stop;
    if (len <= ASCII_FAST_PATH_MAX) {
      let s = "";
      let i = start;
      for (; i < stop; i++) {
        const c = b[i]!;
        if (c >= 0x80) break;
        s += String.fromCharCode(c);
      }
      if (i === stop) return s;
    }
    try {
      return utf8.decode(b.subarray(start, stop));
    } catch {
      throw this.fail(field, "not valid UTF-8");
    }
  }
}
