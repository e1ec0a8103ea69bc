// Codec speed on the hot path (submit, batch submit, claim, result): prints operations per second
// and MB/s for encoding, framing and decoding. A measurement, not a test: nothing here fails.
// Run: bun bench/codec.ts [seconds-per-case, default 0.5]

import { FrameDecoder } from "../src/protocol/frame-decoder.ts";
import { FrameWriter, encodeRequest, encodeResponse } from "../src/protocol/frame-writer.ts";
import type { ClaimedTask, Request, Response, TaskSpec } from "../src/protocol/messages.ts";
import { decodeRequest } from "../src/protocol/request-codec.ts";
import { decodeResponse } from "../src/protocol/response-codec.ts";

const SECONDS = Number(process.argv[2] ?? "0.5");
const ID = "01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90";
const payload = new TextEncoder().encode(JSON.stringify({ to: "someone@example.com", subject: "hello", body: "x".repeat(60) }));

const spec: TaskSpec = { type: "email.send", queue: "default", payload, payloadIsJson: true, priority: 150 };
const submit: Request = { kind: "SubmitTask", requestId: 1, task: spec };
const batch: Request = { kind: "SubmitBatch", requestId: 2, tasks: Array.from({ length: 100 }, () => spec) };
const claimed: ClaimedTask = {
  id: ID,
  token: 7,
  expiresAtMs: 1_733_000_030_000,
  attempts: 0,
  priority: 150,
  queue: "default",
  type: "email.send",
  payloadIsJson: true,
  payload,
  createdAtMs: 1_733_000_000_000,
  maxRetries: 3,
};
const claimReply: Response = { kind: "Claimed", requestId: 3, tasks: Array.from({ length: 10 }, () => claimed) };
const result: Request = { kind: "TaskResult", requestId: 4, id: ID, token: 7, outcome: "completed", resultIsJson: true, result: payload, error: "" };

let sink = 0;

function bench(name: string, bytesPerOp: number, op: () => void): void {
  for (let i = 0; i < 2000; i++) op();
  let ops = 0;
  const start = performance.now();
  const deadline = start + SECONDS * 1000;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 200; i++) op();
    ops += 200;
    now = performance.now();
  }
  const secs = (now - start) / 1000;
  const perSec = ops / secs;
  const mbps = (perSec * bytesPerOp) / 1e6;
  console.log(`${name.padEnd(44)} ${Math.round(perSec).toLocaleString("en-US").padStart(12)} ops/s  ${mbps.toFixed(1).padStart(8)} MB/s  ${((secs * 1e9) / ops).toFixed(0).padStart(7)} ns/op`);
}

function decodeOne(frame: Uint8Array, decode: (type: number, body: Uint8Array) => unknown): () => void {
  const d = new FrameDecoder();
  return () => {
    d.push(frame);
    const f = d.next()!;
    sink += (decode(f.type, f.body) as { requestId: number }).requestId;
  };
}

const submitFrame = encodeRequest(submit);
const batchFrame = encodeRequest(batch);
const claimFrame = encodeResponse(claimReply);
const resultFrame = encodeRequest(result);

console.log(`tq-broker codec bench (bun ${Bun.version}, ${SECONDS}s per case); payload ${payload.length} bytes`);
bench("encode SubmitTask", submitFrame.length, () => (sink += encodeRequest(submit).length));
bench("decode SubmitTask (frame + body)", submitFrame.length, decodeOne(submitFrame, decodeRequest));
bench("encode SubmitBatch x100", batchFrame.length, () => (sink += encodeRequest(batch).length));
bench("decode SubmitBatch x100", batchFrame.length, decodeOne(batchFrame, decodeRequest));
bench("encode Claimed x10 (response)", claimFrame.length, () => (sink += encodeResponse(claimReply).length));
bench("decode Claimed x10 (client side)", claimFrame.length, decodeOne(claimFrame, decodeResponse));
bench("encode TaskResult", resultFrame.length, () => (sink += encodeRequest(result).length));
bench("decode TaskResult", resultFrame.length, decodeOne(resultFrame, decodeRequest));

// 64 small replies coalesced into one write, the way the server answers one read.
const writer = new FrameWriter();
const ack: Response = { kind: "Submitted", requestId: 9, id: ID, status: "pending", duplicate: false };
bench("FrameWriter: 64 Submitted replies + take()", 64 * 27, () => {
  for (let i = 0; i < 64; i++) writer.response(ack);
  sink += writer.take().length;
});

// A stream of many SubmitTask frames cut into 64 KiB reads: splitting + decoding throughput.
const streamWriter = new FrameWriter();
for (let i = 0; i < 2000; i++) streamWriter.request(submit);
const stream = streamWriter.take();
bench("stream of 2000 SubmitTask in 64 KiB reads", stream.length, () => {
  const d = new FrameDecoder();
  for (let p = 0; p < stream.length; p += 65536) {
    d.push(stream.subarray(p, p + 65536));
    for (let f = d.next(); f !== null; f = d.next()) sink += decodeRequest(f.type, f.body).requestId;
  }
});

if (sink === 42) console.log("");
