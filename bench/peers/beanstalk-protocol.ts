// The beanstalk text protocol's bytes (doc/protocol.txt of beanstalkd 1.12): the commands the peer
// bench sends, encoded exactly, and an incremental parser of the server's replies. Pure: no sockets.

/** A command line may not exceed this, CRLF included (protocol.txt, BAD_FORMAT). */
export const MAX_COMMAND_LINE_BYTES = 224;
/** A tube name's bytes. */
export const MAX_TUBE_NAME_BYTES = 200;
/** Priorities, delays and TTRs are unsigned 32-bit. */
const MAX_UINT32 = 2 ** 32 - 1;
/** A reply line longer than this without CRLF is not beanstalkd talking (its longest is ~40). */
const MAX_REPLY_LINE_BYTES = 1024;
/** Replies whose line is followed by a data chunk of the size the line's last number gives. */
const WORDS_WITH_BODY = new Set(["RESERVED", "FOUND", "OK"]);
const TUBE_NAME = /^[A-Za-z0-9+/;.$_()][A-Za-z0-9+/;.$_()-]*$/;

const ascii = new TextEncoder();
const CRLF = ascii.encode("\r\n");

export interface PutOptions {
  /** 0 is the most urgent; beanstalkd picks the smallest value first, FIFO within one. */
  pri: number;
  /** Seconds before the job becomes ready. */
  delaySecs: number;
  /** Seconds a reserved job has before the server releases it again (time to run). */
  ttrSecs: number;
}

export interface Reply {
  /** The reply line's first word: INSERTED, RESERVED, DELETED, TIMED_OUT, NOT_FOUND, ... */
  word: string;
  /** The rest of the line, split at spaces. */
  args: string[];
  /** The data chunk of RESERVED, FOUND and OK (without its CRLF); null for one-line replies. */
  body: Uint8Array | null;
}

function uint32(name: string, value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > MAX_UINT32) throw new RangeError(`${name}: expected a whole number 0-${MAX_UINT32}, got ${value}`);
  return String(value);
}

function jobId(id: number): string {
  if (!Number.isSafeInteger(id) || id < 1) throw new RangeError(`job id: expected a whole number >= 1, got ${id}`);
  return String(id);
}

/** A tube name as the protocol allows it: 1-200 bytes of letters, digits and -+/;.$_(), no leading hyphen. */
export function checkTubeName(tube: string): string {
  if (tube.length > MAX_TUBE_NAME_BYTES || !TUBE_NAME.test(tube)) {
    throw new RangeError(`tube name: expected 1-${MAX_TUBE_NAME_BYTES} of A-Z a-z 0-9 - + / ; . $ _ ( ), not starting with -, got ${JSON.stringify(tube)}`);
  }
  return tube;
}

function line(text: string): Uint8Array {
  const bytes = ascii.encode(`${text}\r\n`);
  if (bytes.byteLength > MAX_COMMAND_LINE_BYTES) throw new RangeError(`command line of ${bytes.byteLength} bytes; beanstalkd takes at most ${MAX_COMMAND_LINE_BYTES}`);
  return bytes;
}

/** `put <pri> <delay> <ttr> <bytes>\r\n<data>\r\n` */
export function encodePut(body: Uint8Array, opts: PutOptions): Uint8Array {
  const head = line(`put ${uint32("pri", opts.pri)} ${uint32("delay", opts.delaySecs)} ${uint32("ttr", opts.ttrSecs)} ${body.byteLength}`);
  const out = new Uint8Array(head.byteLength + body.byteLength + CRLF.byteLength);
  out.set(head, 0);
  out.set(body, head.byteLength);
  out.set(CRLF, head.byteLength + body.byteLength);
  return out;
}

/** `reserve-with-timeout <seconds>\r\n` (0 answers at once), or `reserve\r\n` (waits forever) when null. */
export function encodeReserve(timeoutSecs: number | null): Uint8Array {
  return timeoutSecs === null ? line("reserve") : line(`reserve-with-timeout ${uint32("timeout", timeoutSecs)}`);
}

/** `delete <id>\r\n` */
export function encodeDelete(id: number): Uint8Array {
  return line(`delete ${jobId(id)}`);
}

/** `release <id> <pri> <delay>\r\n` */
export function encodeRelease(id: number, pri: number, delaySecs: number): Uint8Array {
  return line(`release ${jobId(id)} ${uint32("pri", pri)} ${uint32("delay", delaySecs)}`);
}

/** `use <tube>\r\n`: where this connection's puts go. */
export function encodeUse(tube: string): Uint8Array {
  return line(`use ${checkTubeName(tube)}`);
}

/** `watch <tube>\r\n`: add to the tubes this connection reserves from. */
export function encodeWatch(tube: string): Uint8Array {
  return line(`watch ${checkTubeName(tube)}`);
}

/** `ignore <tube>\r\n` */
export function encodeIgnore(tube: string): Uint8Array {
  return line(`ignore ${checkTubeName(tube)}`);
}

/** `stats\r\n`: answered OK with a YAML chunk. */
export function encodeStats(): Uint8Array {
  return line("stats");
}

/** The `key: value` lines of a stats chunk (a flat YAML mapping after `---`). */
export function parseStats(body: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  for (const row of new TextDecoder().decode(body).split("\n")) {
    const colon = row.indexOf(": ");
    if (colon > 0) out[row.slice(0, colon)] = row.slice(colon + 2);
  }
  return out;
}

/**
 * Replies from a byte stream split anywhere: push what the socket gave, then take complete
 * replies with next() until it returns null. Throws on bytes beanstalkd never sends (a line
 * without CRLF past 1 KiB, a chunk not followed by CRLF), so a wrong server is not misread.
 */
export class ReplyParser {
  private buf = new Uint8Array(64 * 1024);
  private start = 0;
  private end = 0;
  /** Where to resume looking for CRLF in the pending line. */
  private scanned = 0;
  private pendingLine: { word: string; args: string[]; bodyBytes: number } | null = null;

  push(chunk: Uint8Array): void {
    if (this.end + chunk.byteLength > this.buf.byteLength) {
      const live = this.end - this.start;
      const needed = live + chunk.byteLength;
      if (needed <= this.buf.byteLength) this.buf.copyWithin(0, this.start, this.end);
      else {
        const bigger = new Uint8Array(2 ** Math.ceil(Math.log2(needed)));
        bigger.set(this.buf.subarray(this.start, this.end));
        this.buf = bigger;
      }
      this.scanned -= this.start;
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.byteLength;
  }

  next(): Reply | null {
    if (this.pendingLine === null) {
      const lineEnd = this.findCrlf();
      if (lineEnd === -1) return null;
      const text = latin1(this.buf, this.start, lineEnd);
      this.start = lineEnd + 2;
      this.scanned = this.start;
      const [word = "", ...args] = text.split(" ");
      if (!WORDS_WITH_BODY.has(word)) return this.reply({ word, args, body: null });
      const bodyBytes = Number(args[args.length - 1]);
      if (!Number.isSafeInteger(bodyBytes) || bodyBytes < 0) throw new Error(`beanstalk reply ${JSON.stringify(text)}: no chunk size`);
      this.pendingLine = { word, args, bodyBytes };
    }
    const { word, args, bodyBytes } = this.pendingLine;
    if (this.end - this.start < bodyBytes + 2) return null;
    const bodyEnd = this.start + bodyBytes;
    if (this.buf[bodyEnd] !== 13 || this.buf[bodyEnd + 1] !== 10) throw new Error(`beanstalk reply ${word}: chunk of ${bodyBytes} bytes not followed by CRLF`);
    const body = this.buf.slice(this.start, bodyEnd);
    this.start = bodyEnd + 2;
    this.scanned = this.start;
    this.pendingLine = null;
    return this.reply({ word, args, body });
  }

  private reply(r: Reply): Reply {
    if (this.start === this.end) {
      // Everything consumed: the buffer starts over, so it never grows from a long stream.
      this.start = this.end = this.scanned = 0;
    }
    return r;
  }

  /** Index of the CR of the first CRLF at or after start, or -1 (checking the line's length). */
  private findCrlf(): number {
    for (let at = this.scanned; at < this.end - 1; at++) {
      if (this.buf[at] === 13 && this.buf[at + 1] === 10) return at;
    }
    this.scanned = Math.max(this.start, this.end - 1);
    if (this.end - this.start > MAX_REPLY_LINE_BYTES) throw new Error(`beanstalk reply line longer than ${MAX_REPLY_LINE_BYTES} bytes without CRLF`);
    return -1;
  }
}

const lineDecoder = new TextDecoder("latin1");

function latin1(bytes: Uint8Array, from: number, to: number): string {
  return lineDecoder.decode(bytes.subarray(from, to));
}
