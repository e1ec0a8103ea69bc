// The incremental frame decoder under every chunking: byte by byte, split at every offset, many
// frames per chunk, and the fatal framing errors (length 0, length over the limit).

import { expect, test } from "bun:test";
import { FrameDecoder, type Frame } from "../../../src/protocol/frame-decoder.ts";
import { FrameWriter } from "../../../src/protocol/frame-writer.ts";
import { decodeRequest } from "../../../src/protocol/request-codec.ts";
import { MAX_FRAME_BYTES } from "../../../src/protocol/limits.ts";
import { ProtocolError } from "../../../src/protocol/protocol-error.ts";
import { ALL_REQUESTS, ALL_RESPONSES } from "./sample-messages.ts";

/** Every sample as one stream of frames, with each frame's expected type and body. */
function sampleStream(): { bytes: Uint8Array; frames: { type: number; body: number[] }[]; ends: number[] } {
  const w = new FrameWriter();
  for (const m of ALL_REQUESTS) w.request(m);
  for (const m of ALL_RESPONSES) w.response(m);
  const bytes = w.take();
  const frames: { type: number; body: number[] }[] = [];
  const ends: number[] = [];
  for (let p = 0; p < bytes.length; ) {
    const len = new DataView(bytes.buffer, bytes.byteOffset + p).getUint32(0);
    frames.push({ type: bytes[p + 4]!, body: [...bytes.subarray(p + 5, p + 4 + len)] });
    p += 4 + len;
    ends.push(p);
  }
  return { bytes, frames, ends };
}

/** Drains frames, copying bodies (they are only valid until the next push). */
function drain(d: FrameDecoder, into: { type: number; body: number[] }[]): void {
  for (let f: Frame | null = d.next(); f !== null; f = d.next()) into.push({ type: f.type, body: [...f.body] });
}

test("many frames in one chunk come out in order", () => {
  const { bytes, frames } = sampleStream();
  const d = new FrameDecoder();
  d.push(bytes);
  const got: { type: number; body: number[] }[] = [];
  drain(d, got);
  expect(got).toEqual(frames);
  expect(d.bufferedBytes).toBe(0);
});

test("fed one byte at a time, every frame comes out whole", () => {
  const { bytes, frames } = sampleStream();
  const d = new FrameDecoder();
  const got: { type: number; body: number[] }[] = [];
  for (let i = 0; i < bytes.length; i++) {
    d.push(bytes.subarray(i, i + 1));
    drain(d, got);
  }
  expect(got).toEqual(frames);
  expect(d.bufferedBytes).toBe(0);
});

test("a stream split in two at every offset decodes the same", () => {
  const { bytes, frames } = sampleStream();
  for (let cut = 0; cut <= bytes.length; cut++) {
    const d = new FrameDecoder();
    const got: { type: number; body: number[] }[] = [];
    d.push(bytes.subarray(0, cut));
    drain(d, got);
    d.push(bytes.subarray(cut));
    drain(d, got);
    if (got.length !== frames.length) throw new Error(`cut at ${cut}: ${got.length} frames`);
    expect(got).toEqual(frames);
  }
});

test("each frame split in three at every pair of offsets decodes the same", () => {
  const { bytes, frames, ends } = sampleStream();
  // Two frames cover every boundary shape (header, body, next header) at O(n^2) cuts.
  const part = bytes.subarray(0, ends[1]);
  for (let a = 0; a <= part.length; a++) {
    for (let b = a; b <= part.length; b++) {
      const d = new FrameDecoder();
      const got: { type: number; body: number[] }[] = [];
      for (const piece of [part.subarray(0, a), part.subarray(a, b), part.subarray(b)]) {
        d.push(piece);
        drain(d, got);
      }
      expect(got).toEqual(frames.slice(0, 2));
    }
  }
});

test("pushing again before draining keeps the unread bytes", () => {
  const { bytes, frames } = sampleStream();
  const d = new FrameDecoder();
  const half = bytes.length >> 1;
  d.push(bytes.subarray(0, half));
  d.push(bytes.subarray(half));
  const got: { type: number; body: number[] }[] = [];
  drain(d, got);
  expect(got).toEqual(frames);
});

test("a truncated frame yields nothing until the rest arrives", () => {
  const d = new FrameDecoder();
  d.push(new Uint8Array([0, 0, 0, 6, 0x12, 0, 0]));
  expect(d.next()).toBeNull();
  expect(d.bufferedBytes).toBe(3);
  d.push(new Uint8Array([0, 9, 0x55]));
  const f = d.next();
  expect(f).not.toBeNull();
  expect([f!.type, ...f!.body]).toEqual([0x12, 0, 0, 0, 9, 0x55]);
  expect(d.next()).toBeNull();
});

test("a frame of just a type byte has an empty body", () => {
  const d = new FrameDecoder();
  d.push(new Uint8Array([0, 0, 0, 1, 0x12]));
  expect(d.next()).toEqual({ type: 0x12, body: new Uint8Array(0) });
});

function fatal(d: FrameDecoder): ProtocolError {
  try {
    d.next();
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
  throw new Error("expected a framing error");
}

test("length 0 is BadFrame, fatal and sticky", () => {
  const d = new FrameDecoder();
  d.push(new Uint8Array([0, 0, 0, 1, 0x12, 0, 0, 0, 0, 0, 0, 0, 1, 0x12]));
  expect(d.next()).not.toBeNull();
  const err = fatal(d);
  expect(err.code).toBe(1);
  expect(err.requestId).toBeNull();
  expect(d.error).toBe(err);
  d.push(new Uint8Array([0, 0, 0, 1, 0x12]));
  expect(fatal(d)).toBe(err);
});

test("a length over 16 MiB is FrameTooLarge from the header alone, before any body is buffered", () => {
  const d = new FrameDecoder();
  const over = MAX_FRAME_BYTES + 1;
  d.push(new Uint8Array([over >>> 24, (over >>> 16) & 0xff, (over >>> 8) & 0xff]));
  expect(d.next()).toBeNull();
  d.push(new Uint8Array([over & 0xff]));
  const err = fatal(d);
  expect(err.code).toBe(2);
  expect(err.message).toContain(String(over));
  expect(d.bufferedBytes).toBe(0);
});

test("the largest length 0xFFFFFFFF is FrameTooLarge", () => {
  const d = new FrameDecoder();
  d.push(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x02]));
  expect(fatal(d).code).toBe(2);
});

test("exactly the limit is accepted (a smaller limit keeps the test light)", () => {
  const d = new FrameDecoder(64);
  const frame = new Uint8Array(4 + 64);
  frame[3] = 64;
  frame[4] = 0x12;
  d.push(frame);
  expect(d.next()?.body.length).toBe(63);
  d.push(new Uint8Array([0, 0, 0, 65]));
  expect(fatal(d).code).toBe(2);
});

test("a 16 MiB frame split in many chunks is assembled once", () => {
  const d = new FrameDecoder();
  const body = new Uint8Array(MAX_FRAME_BYTES);
  body[0] = 0x02;
  body[body.length - 1] = 0xaa;
  const header = new Uint8Array([0x01, 0, 0, 0]);
  d.push(header);
  expect(d.next()).toBeNull();
  const step = 1 << 20;
  let frame: Frame | null = null;
  for (let p = 0; p < body.length; p += step) {
    d.push(body.subarray(p, p + step));
    frame = d.next();
  }
  expect(frame).not.toBeNull();
  expect(frame!.type).toBe(0x02);
  expect(frame!.body.length).toBe(MAX_FRAME_BYTES - 1);
  expect(frame!.body[frame!.body.length - 1]).toBe(0xaa);
});

test("a header announcing 16 MiB followed by a trickle holds memory for the trickle only", () => {
  const d = new FrameDecoder();
  const len = MAX_FRAME_BYTES;
  d.push(new Uint8Array([len >>> 24, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff, 0x02, 1, 2, 3]));
  expect(d.next()).toBeNull();
  expect(d.bufferedBytes).toBe(4);
  expect(d.heldBytes).toBeLessThanOrEqual(64 * 1024);
  d.push(new Uint8Array(200 * 1024));
  expect(d.next()).toBeNull();
  expect(d.heldBytes).toBeLessThanOrEqual(2 * (200 * 1024 + 4));
});

test("payloads decoded from a socket's Buffer chunk are copies that do not pin the chunk", () => {
  const payload = new Uint8Array(100).fill(9);
  const frame = new FrameWriter().request({ kind: "SubmitTask", requestId: 1, task: { type: "t", queue: "q", payload, payloadIsJson: false } }).take();
  // As Bun delivers socket data: a Buffer, here with other bytes after the frame.
  const chunk = Buffer.concat([frame, Buffer.alloc(64 * 1024)]);
  const d = new FrameDecoder();
  d.push(chunk);
  const f = d.next()!;
  const request = decodeRequest(f.type, f.body);
  if (request.kind !== "SubmitTask") throw new Error(request.kind);
  expect([...request.task.payload]).toEqual([...payload]);
  expect(request.task.payload.buffer.byteLength).toBe(100);
  chunk.fill(0);
  expect(request.task.payload[0]).toBe(9);
});

test("chunks pushed before the earlier ones are read are queued, not joined; frames across them come out whole", () => {
  const { bytes, frames } = sampleStream();
  const d = new FrameDecoder();
  // Uneven chunks, all pushed before any frame is read (as Bun delivers to a paused socket).
  const cuts = [0, 3, 7, 100, 101, 950, bytes.length >> 1, bytes.length - 2, bytes.length];
  for (let i = 1; i < cuts.length; i++) d.push(bytes.slice(cuts[i - 1], cuts[i]));
  expect(d.bufferedBytes).toBe(bytes.length);
  const got: { type: number; body: number[] }[] = [];
  drain(d, got);
  expect(got).toEqual(frames);
  expect(d.bufferedBytes).toBe(0);
});

test("bodies returned earlier stay intact while later chunks are pushed", () => {
  const ping = new FrameWriter().request({ kind: "Ping", requestId: 7 }).take();
  const d = new FrameDecoder();
  d.push(ping);
  const first = d.next()!;
  for (let i = 0; i < 5; i++) d.push(new FrameWriter().request({ kind: "Ping", requestId: 100 + i }).take());
  expect([...first.body]).toEqual([0, 0, 0, 7]);
  let n = 0;
  while (d.next() !== null) n++;
  expect(n).toBe(5);
});

test("compact() lets go of a mostly read chunk: what is left is a copy of its own size", () => {
  const frame = new FrameWriter().request({ kind: "Ping", requestId: 1 }).take();
  const chunk = new Uint8Array(frame.length * 100);
  for (let i = 0; i < 100; i++) chunk.set(frame, i * frame.length);
  const d = new FrameDecoder();
  d.push(chunk);
  for (let i = 0; i < 90; i++) expect(d.next()).not.toBeNull();
  d.compact();
  const next = d.next()!;
  expect(next.body.buffer.byteLength).toBe(frame.length * 10);
  let left = 1;
  while (d.next() !== null) left++;
  expect(left).toBe(10);
});

test("compact() keeps a chunk that is mostly unread (no copy), and discard() drops everything", () => {
  const frame = new FrameWriter().request({ kind: "Ping", requestId: 1 }).take();
  const chunk = new Uint8Array(frame.length * 100);
  for (let i = 0; i < 100; i++) chunk.set(frame, i * frame.length);
  const d = new FrameDecoder();
  d.push(chunk);
  d.next();
  d.compact();
  expect(d.next()!.body.buffer).toBe(chunk.buffer);
  d.push(new Uint8Array([0, 0, 0, 9, 0x02]));
  d.discard();
  expect(d.bufferedBytes).toBe(0);
  expect(d.next()).toBeNull();
});
