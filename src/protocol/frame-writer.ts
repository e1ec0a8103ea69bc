// Frame encoding: FrameWriter appends many whole frames to one growable buffer (the server
// coalesces all replies to one read into one socket write); encodeRequest/encodeResponse make
// one frame. Frames only — writing them to a socket is net/'s business.

import { ByteWriter } from "./byte-writer.ts";
import { BrokerError, ErrorCode } from "./errors.ts";
import { FRAME_HEADER_BYTES, MAX_FRAME_BYTES } from "./limits.ts";
import type { Request, Response } from "./messages.ts";
import { RequestType, ResponseType } from "./message-types.ts";
import { writeRequestBody } from "./request-codec.ts";
import { writeResponseBody } from "./response-codec.ts";

/** After take(), a buffer grown past this is dropped so one huge reply does not pin memory for the connection's life. */
const RETAIN_MAX_BYTES = 1024 * 1024;

export class FrameWriter {
  private w: ByteWriter;
  private readonly initialBytes: number;

  constructor(initialBytes = 4096) {
    this.initialBytes = initialBytes;
    this.w = new ByteWriter(initialBytes);
  }

  /** Bytes written and not yet taken. */
  get length(): number {
    return this.w.pos;
  }

  /** Appends one request frame. On error (a value that does not fit its field) nothing is appended. */
  request(m: Request): this {
    this.frame(RequestType[m.kind], m, writeRequestBody);
    return this;
  }

  /** Appends one response frame. On error nothing is appended. */
  response(m: Response): this {
    this.frame(ResponseType[m.kind], m, writeResponseBody);
    return this;
  }

  /** The frames written so far, as one copy the caller owns; the writer starts empty again. */
  take(): Uint8Array {
    const out = this.w.buf.slice(0, this.w.pos);
    if (this.w.buf.length > RETAIN_MAX_BYTES) this.w = new ByteWriter(this.initialBytes);
    else this.w.pos = 0;
    return out;
  }

  private frame<M>(type: number, m: M, writeBody: (w: ByteWriter, m: M) => void): void {
    const w = this.w;
    const start = w.pos;
    try {
      w.ensure(FRAME_HEADER_BYTES);
      w.pos += 4;
      w.buf[w.pos++] = type;
      writeBody(w, m);
      const length = w.pos - start - 4;
      if (length > MAX_FRAME_BYTES) {
        throw new BrokerError(ErrorCode.FrameTooLarge, `frame of ${length} bytes is over the limit of ${MAX_FRAME_BYTES}`);
      }
      w.putU32(start, length);
    } catch (err) {
      w.pos = start;
      throw err;
    }
  }
}

const scratch = new FrameWriter();

/** One request as a whole frame (header included). Throws BrokerError InvalidField/FrameTooLarge. */
export function encodeRequest(m: Request): Uint8Array {
  return scratch.request(m).take();
}

/** One response as a whole frame (header included). Throws BrokerError InvalidField/FrameTooLarge. */
export function encodeResponse(m: Response): Uint8Array {
  return scratch.response(m).take();
}
