// Seeded fuzzing of the frame decoder and both message decoders: random streams, random bodies
// under real type bytes, and mutated valid frames only ever yield frames, messages or
// BrokerErrors — and whatever decodes re-encodes to the same message. Bounded iteration counts.

import { expect, test } from "bun:test";
import { BrokerError } from "../../../src/protocol/errors.ts";
import { FrameDecoder } from "../../../src/protocol/frame-decoder.ts";
import { encodeRequest, encodeResponse } from "../../../src/protocol/frame-writer.ts";
import { RequestType, ResponseType } from "../../../src/protocol/message-types.ts";
import type { Request, Response } from "../../../src/protocol/messages.ts";
import { decodeRequest } from "../../../src/protocol/request-codec.ts";
import { decodeResponse } from "../../../src/protocol/response-codec.ts";
import { ALL_REQUESTS, ALL_RESPONSES } from "./sample-messages.ts";
import { seededRandom } from "../../helpers/seeded-random.ts";

const prng = seededRandom;

const TYPE_BYTES = [...Object.values(RequestType), ...Object.values(ResponseType)];
const SAMPLE_FRAMES = [...ALL_REQUESTS.map((m) => encodeRequest(m)), ...ALL_RESPONSES.map((m) => encodeResponse(m))];

interface Tally {
  frames: number;
  decoded: number;
  rejected: number;
  fatal: number;
}

/** Decodes one body both ways; anything thrown must be a BrokerError; anything decoded must round-trip. */
function decodeBoth(type: number, body: Uint8Array, tally: Tally): void {
  tally.frames++;
  let request: Request | null = null;
  let response: Response | null = null;
  try {
    request = decodeRequest(type, body);
  } catch (err) {
    if (!(err instanceof BrokerError)) throw err;
    tally.rejected++;
  }
  try {
    response = decodeResponse(type, body);
  } catch (err) {
    if (!(err instanceof BrokerError)) throw err;
    tally.rejected++;
  }
  if (request !== null) {
    tally.decoded++;
    const again = encodeRequest(request);
    if (!Bun.deepEquals(decodeRequest(again[4]!, again.subarray(5)), request)) throw new Error(`request does not round-trip: ${Bun.inspect(request)}`);
  }
  if (response !== null) {
    tally.decoded++;
    const again = encodeResponse(response);
    if (!Bun.deepEquals(decodeResponse(again[4]!, again.subarray(5)), response)) throw new Error(`response does not round-trip: ${Bun.inspect(response)}`);
  }
}

/** Streams bytes through a decoder in random chunks; a fatal framing error (BrokerError) ends the stream. */
function stream(bytes: Uint8Array, rand: () => number, tally: Tally): void {
  const d = new FrameDecoder();
  for (let p = 0; p < bytes.length; ) {
    const n = 1 + Math.floor(rand() * 64);
    d.push(bytes.subarray(p, p + n));
    p += n;
    try {
      for (let f = d.next(); f !== null; f = d.next()) decodeBoth(f.type, f.body, tally);
    } catch (err) {
      if (!(err instanceof BrokerError)) throw err;
      if (err.code !== 1 && err.code !== 2) throw err;
      tally.fatal++;
      return;
    }
  }
}

function mutate(src: Uint8Array, rand: () => number): Uint8Array {
  let out = src.slice();
  const edits = 1 + Math.floor(rand() * 4);
  for (let e = 0; e < edits && out.length > 0; e++) {
    // Bodies start after the 5-byte header; mutating the header too tests the framing.
    const at = Math.floor(rand() * out.length);
    const op = Math.floor(rand() * 6);
    if (op === 0) out[at] = Math.floor(rand() * 256);
    else if (op === 1) out[at] = out[at]! ^ (1 << Math.floor(rand() * 8));
    else if (op === 2) out[at] = [0, 0xff, 0x7f, 0x80, 1][Math.floor(rand() * 5)]!;
    else if (op === 3) out = out.slice(0, at);
    else if (op === 4) {
      const grown = new Uint8Array(out.length + 1);
      grown.set(out.subarray(0, at));
      grown[at] = Math.floor(rand() * 256);
      grown.set(out.subarray(at), at + 1);
      out = grown;
    } else {
      const shrunk = new Uint8Array(out.length - 1);
      shrunk.set(out.subarray(0, at));
      shrunk.set(out.subarray(at + 1), at);
      out = shrunk;
    }
  }
  return out;
}

/** Mutated frames keep their original length header unless the mutation hit it, so most reach the body decoders. */
function refitLength(frame: Uint8Array): Uint8Array {
  if (frame.length < 5) return frame;
  const len = frame.length - 4;
  frame[0] = len >>> 24;
  frame[1] = (len >>> 16) & 0xff;
  frame[2] = (len >>> 8) & 0xff;
  frame[3] = len & 0xff;
  return frame;
}

test("random byte streams only yield frames or BrokerErrors", () => {
  const rand = prng(0xc0ffee);
  const tally: Tally = { frames: 0, decoded: 0, rejected: 0, fatal: 0 };
  for (let i = 0; i < 20_000; i++) {
    const bytes = new Uint8Array(1 + Math.floor(rand() * 48));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256);
    // Small lengths so the decoder gets past the header check to real bodies.
    if (rand() < 0.7) bytes[0] = bytes[1] = bytes[2] = 0;
    stream(bytes, rand, tally);
  }
  expect(tally.frames).toBeGreaterThan(1000);
  expect(tally.fatal).toBeGreaterThan(0);
});

test("random bodies under every known type byte only yield messages or BrokerErrors", () => {
  const rand = prng(42);
  const tally: Tally = { frames: 0, decoded: 0, rejected: 0, fatal: 0 };
  for (let i = 0; i < 100_000; i++) {
    const type = TYPE_BYTES[Math.floor(rand() * TYPE_BYTES.length)]!;
    const body = new Uint8Array(Math.floor(rand() * 40));
    for (let j = 0; j < body.length; j++) body[j] = rand() < 0.5 ? 0 : Math.floor(rand() * 256);
    decodeBoth(type, body, tally);
  }
  expect(tally.decoded).toBeGreaterThan(100);
});

test("mutated valid frames only yield frames, messages or BrokerErrors", () => {
  const rand = prng(7);
  const tally: Tally = { frames: 0, decoded: 0, rejected: 0, fatal: 0 };
  for (let i = 0; i < 80_000; i++) {
    const src = SAMPLE_FRAMES[Math.floor(rand() * SAMPLE_FRAMES.length)]!;
    const bad = mutate(src, rand);
    stream(rand() < 0.8 ? refitLength(bad) : bad, rand, tally);
  }
  expect(tally.decoded).toBeGreaterThan(1000);
  expect(tally.rejected).toBeGreaterThan(1000);
});
