// A growable big-endian byte buffer for encoding frames. Checks that each value fits its wire
// type (a u16 gets 0..65535, a uuid is canonical text) and names the field when it does not;
// it does not judge whether a value makes sense (that is the decoder's and broker's business).

import { BrokerError, ErrorCode } from "./errors.ts";

const utf8 = new TextEncoder();
const f32Scratch = new DataView(new ArrayBuffer(4));
const INITIAL_BYTES = 4096;

function unrepresentable(field: string, message: string): BrokerError {
  return new BrokerError(ErrorCode.InvalidField, `${field}: ${message}`, { field });
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

export class ByteWriter {
  buf: Uint8Array;
  pos = 0;

  constructor(initialBytes: number = INITIAL_BYTES) {
    this.buf = new Uint8Array(initialBytes);
  }

  ensure(n: number): void {
    const needed = this.pos + n;
    if (needed <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
  }

  u8(field: string, v: number): void {
    if (!(v >= 0 && v <= 0xff && Number.isInteger(v))) throw unrepresentable(field, `${v} is not a u8`);
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(field: string, v: number): void {
    if (!(v >= 0 && v <= 0xffff && Number.isInteger(v))) throw unrepresentable(field, `${v} is not a u16`);
    this.ensure(2);
    const b = this.buf;
    const p = this.pos;
    b[p] = v >>> 8;
    b[p + 1] = v;
    this.pos = p + 2;
  }

  u32(field: string, v: number): void {
    if (!(v >= 0 && v <= 0xffff_ffff && Number.isInteger(v))) throw unrepresentable(field, `${v} is not a u32`);
    this.ensure(4);
    this.putU32(this.pos, v);
    this.pos += 4;
  }

  /** Writes a u32 at an earlier offset (frame lengths are patched in after the body). */
  putU32(at: number, v: number): void {
    const b = this.buf;
    b[at] = v >>> 24;
    b[at + 1] = v >>> 16;
    b[at + 2] = v >>> 8;
    b[at + 3] = v;
  }

  u64(field: string, v: number): void {
    if (!(v >= 0 && Number.isSafeInteger(v))) throw unrepresentable(field, `${v} is not a u64 below 2^53`);
    this.ensure(8);
    this.putU32(this.pos, Math.floor(v / 0x1_0000_0000));
    this.putU32(this.pos + 4, v >>> 0);
    this.pos += 8;
  }

  /** A timestamp where null is written as 0 (absent). */
  u64OrNull(field: string, v: number | null | undefined): void {
    this.u64(field, v ?? 0);
  }

  f32(field: string, v: number): void {
    if (!Number.isFinite(v)) throw unrepresentable(field, `${v} is not a finite number`);
    this.ensure(4);
    f32Scratch.setFloat32(0, v, false);
    for (let i = 0; i < 4; i++) this.buf[this.pos + i] = f32Scratch.getUint8(i);
    this.pos += 4;
  }

  bool(_field: string, v: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  /** 16 raw bytes from canonical UUID text (8-4-4-4-12 hex digits). */
  uuid(field: string, id: string): void {
    if (id.length !== 36) throw unrepresentable(field, `${JSON.stringify(id)} is not a UUID`);
    this.ensure(16);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < 36; ) {
      if (i === 8 || i === 13 || i === 18 || i === 23) {
        if (id.charCodeAt(i) !== 0x2d) throw unrepresentable(field, `${JSON.stringify(id)} is not a UUID`);
        i++;
        continue;
      }
      const hi = hexValue(id.charCodeAt(i));
      const lo = hexValue(id.charCodeAt(i + 1));
      if (hi < 0 || lo < 0) throw unrepresentable(field, `${JSON.stringify(id)} is not a UUID`);
      b[p++] = (hi << 4) | lo;
      i += 2;
    }
    this.pos = p;
  }

  /** str: u16 byte length + UTF-8. */
  str(field: string, s: string, maxBytes: number = 0xffff): void {
    this.utf8(field, s, 2, Math.min(maxBytes, 0xffff));
  }

  /** text: u32 byte length + UTF-8. */
  text(field: string, s: string, maxBytes: number): void {
    this.utf8(field, s, 4, maxBytes);
  }

  /** text cut to its first `keepBytes` of UTF-8, at a character boundary (task error messages). */
  clippedText(field: string, s: string, keepBytes: number): void {
    this.utf8(field, s, 4, keepBytes, true);
  }

  /** bytes: u32 length + raw. */
  bytes(field: string, data: Uint8Array, maxBytes: number): void {
    if (data.length > maxBytes) throw unrepresentable(field, `${data.length} bytes is over the limit of ${maxBytes}`);
    this.ensure(4 + data.length);
    this.putU32(this.pos, data.length);
    this.buf.set(data, this.pos + 4);
    this.pos += 4 + data.length;
  }

  private utf8(field: string, s: string, prefixBytes: 2 | 4, maxBytes: number, clip = false): void {
    const n = s.length;
    // UTF-8 takes at most 3 bytes per UTF-16 unit (a surrogate pair is 2 units -> 4 bytes).
    this.ensure(prefixBytes + n * 3);
    const b = this.buf;
    const start = this.pos + prefixBytes;
    let written = 0;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        ascii = false;
        break;
      }
      b[start + i] = c;
    }
    if (ascii) written = n;
    else written = utf8.encodeInto(s, b.subarray(start)).written;
    if (written > maxBytes) {
      if (!clip) throw unrepresentable(field, `${written} bytes of UTF-8 is over the limit of ${maxBytes}`);
      written = maxBytes;
      while (written > 0 && (b[start + written]! & 0xc0) === 0x80) written--;
    }
    if (prefixBytes === 2) {
      b[this.pos] = written >>> 8;
      b[this.pos + 1] = written;
    } else {
      this.putU32(this.pos, written);
    }
    this.pos = start + written;
  }
}
