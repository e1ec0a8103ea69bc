// Incremental frame splitter: bytes in (any chunking), whole frames out. Checks the declared
// length against the frame limit from the 4-byte header alone, before buffering any body.
// Knows nothing of message layouts; decodeRequest/decodeResponse read the bodies.

import { ErrorCode } from "./errors.ts";
import { MAX_FRAME_BYTES } from "./limits.ts";
import { ProtocolError } from "./protocol-error.ts";

export interface Frame {
  /** The message-type byte. */
  type: number;
  /**
   * The payload (after the type byte). Often a view into the chunk given to push(): valid until
   * the next push(). Decode it (decoders copy what they keep) or copy it before then.
   */
  body: Uint8Array;
}

const EMPTY = new Uint8Array(0);
/** First buffer for a frame split across reads; doubled as bytes arrive. */
const PARTIAL_INITIAL_BYTES = 64 * 1024;

export class FrameDecoder {
  private readonly maxFrameBytes: number;
  /** The chunk being read, and how far. */
  private chunk: Uint8Array = EMPTY;
  private pos = 0;
  /**
   * Chunks pushed while an earlier one was still being read, kept as they came: joining them
   * copied every byte held again on each push (Bun delivers reads even to a paused socket while
   * it tears the connection down, megabytes of them).
   */
  private queued: Uint8Array[] = [];
  private queuedBytes = 0;
  /** Header bytes of a length prefix split across chunks. */
  private readonly head = new Uint8Array(4);
  private headFilled = 0;
  /**
   * A frame (type + payload) being assembled across chunks: `partialLength` bytes are expected.
   * The buffer grows with the bytes that actually arrive, so a header that announces 16 MiB and
   * then stalls costs what was sent, not 16 MiB (many such connections must not exhaust memory).
   */
  private partial: Uint8Array | null = null;
  private partialLength = 0;
  private partialFilled = 0;
  private failure: ProtocolError | null = null;

  constructor(maxFrameBytes: number = MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** The fatal framing error, once one happened: the connection must be closed. */
  get error(): ProtocolError | null {
    return this.failure;
  }

  /** Bytes received and not yet returned as frames (for buffer-limit accounting). */
  get bufferedBytes(): number {
    return this.chunk.length - this.pos + this.queuedBytes + this.headFilled + this.partialFilled;
  }

  /** Memory this decoder holds for incomplete frames: grows with bytes received, not with lengths announced. */
  get heldBytes(): number {
    return (this.partial?.length ?? 0) + this.headFilled;
  }

  /**
   * Copies the bytes not yet returned as frames out of the chunk they came in, when that chunk is
   * mostly read: a connection paused mid-chunk then holds what it sent and has not been served,
   * not the whole read (up to 512 KiB in Bun). Frames returned earlier keep the old chunk alive
   * only as long as they are referenced.
   */
  compact(): void {
    const left = this.chunk.length - this.pos;
    if (left === 0 || left * 2 > this.chunk.length) return;
    this.chunk = this.chunk.slice(this.pos);
    this.pos = 0;
  }

  /** Drops every byte held: the connection is gone. */
  discard(): void {
    this.chunk = EMPTY;
    this.pos = 0;
    this.queued = [];
    this.queuedBytes = 0;
    this.headFilled = 0;
    this.partial = null;
    this.partialLength = 0;
    this.partialFilled = 0;
  }

  /** Adds received bytes. Frames returned earlier stay valid: chunks are never written to. */
  push(chunk: Uint8Array): void {
    if (this.failure !== null || chunk.length === 0) return;
    if (this.pos === this.chunk.length && this.queued.length === 0) {
      this.chunk = chunk;
      this.pos = 0;
      return;
    }
    this.queued.push(chunk);
    this.queuedBytes += chunk.length;
  }

  /** The next complete frame, or null when more bytes are needed. Throws the fatal ProtocolError (BadFrame/FrameTooLarge), again on every later call. */
  next(): Frame | null {
    if (this.failure !== null) throw this.failure;
    for (;;) {
      if (this.partial !== null) {
        const frame = this.continuePartial();
        if (frame !== null) return frame;
        if (!this.advance()) return null;
        continue;
      }
      if (!this.advance()) return null;
      const chunk = this.chunk;
      let avail = chunk.length - this.pos;
      let length: number;
      if (this.headFilled > 0 || avail < 4) {
        const take = Math.min(4 - this.headFilled, avail);
        this.head.set(chunk.subarray(this.pos, this.pos + take), this.headFilled);
        this.headFilled += take;
        this.pos += take;
        if (this.headFilled < 4) continue;
        this.headFilled = 0;
        length = readU32(this.head, 0);
        avail -= take;
      } else {
        length = readU32(chunk, this.pos);
        this.pos += 4;
        avail -= 4;
      }
      this.checkLength(length);
      if (avail >= length) {
        const p = this.pos;
        this.pos = p + length;
        return { type: chunk[p]!, body: chunk.subarray(p + 1, p + length) };
      }
      this.partial = new Uint8Array(Math.min(length, Math.max(PARTIAL_INITIAL_BYTES, avail)));
      this.partialLength = length;
      this.partialFilled = 0;
    }
  }

  /**
   * Makes the current chunk one with bytes left, taking the next queued one when it is read;
   * false when nothing is left (the drained chunk is dropped, so the socket's buffer is not kept
   * alive until the next read).
   */
  private advance(): boolean {
    if (this.pos < this.chunk.length) return true;
    const next = this.queued.shift();
    if (next === undefined) {
      this.chunk = EMPTY;
      this.pos = 0;
      return false;
    }
    this.queuedBytes -= next.length;
    this.chunk = next;
    this.pos = 0;
    return true;
  }

  /** Yields every complete frame now available; throws like next(). */
  *frames(): IterableIterator<Frame> {
    for (let f = this.next(); f !== null; f = this.next()) yield f;
  }

  [Symbol.iterator](): IterableIterator<Frame> {
    return this.frames();
  }

  private continuePartial(): Frame | null {
    const take = Math.min(this.partialLength - this.partialFilled, this.chunk.length - this.pos);
    let partial = this.partial!;
    const needed = this.partialFilled + take;
    if (needed > partial.length) {
      let size = partial.length * 2;
      while (size < needed) size *= 2;
      const grown = new Uint8Array(Math.min(size, this.partialLength));
      grown.set(partial.subarray(0, this.partialFilled));
      partial = this.partial = grown;
    }
    partial.set(this.chunk.subarray(this.pos, this.pos + take), this.partialFilled);
    this.partialFilled = needed;
    this.pos += take;
    if (this.partialFilled < this.partialLength) return null;
    this.partial = null;
    this.partialFilled = 0;
    return { type: partial[0]!, body: partial.subarray(1, this.partialLength) };
  }

  private checkLength(length: number): void {
    if (length === 0) {
      this.failure = new ProtocolError(ErrorCode.BadFrame, "frame length 0: the length counts the type byte, so it is at least 1", null);
    } else if (length > this.maxFrameBytes) {
      this.failure = new ProtocolError(
        ErrorCode.FrameTooLarge,
        `frame length ${length} is over the limit of ${this.maxFrameBytes} bytes`,
        null,
      );
    } else {
      return;
    }
    this.chunk = EMPTY;
    this.pos = 0;
    this.queued = [];
    this.queuedBytes = 0;
    throw this.failure;
  }
}

function readU32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}
