// Hostile frames for scenario 2: valid requests with flipped bytes, cut or padded bodies, unknown
// and response type bytes, random, large and deeply nested payloads; framing-breaking ones (zero,
// wrong or huge lengths) only as a connection's last frame. Pure: returns bytes, sends nothing.

import { encodeRequest } from "../../../src/protocol/frame-writer.ts";
import type { Request } from "../../../src/protocol/messages.ts";
import { MAX_FRAME_BYTES } from "../../../src/protocol/limits.ts";

const encoder = new TextEncoder();
/** Tasks the fuzzer manages to submit land here, never in the canary's queue. */
export const FUZZ_QUEUE = "fuzz";

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)]!;
}

function randomBytes(random: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256);
  return out;
}

function uuid(random: () => number): string {
  const hex = Array.from(randomBytes(random, 16), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A valid request that never blocks and never touches the canary's queue. */
export function validRequest(random: () => number, requestId: number, large: boolean): Request {
  const payloadBytes = large ? 256 * 1024 + Math.floor(random() * 1024 * 1024) : Math.floor(random() * 64);
  const task = { type: "fuzz", queue: FUZZ_QUEUE, payload: randomBytes(random, payloadBytes), payloadIsJson: false, priority: Math.floor(random() * 256) };
  const ref = { id: uuid(random), token: Math.floor(random() * 1000) };
  const options: Request[] = [
    { kind: "Ping", requestId },
    { kind: "SubmitTask", requestId, task },
    { kind: "SubmitBatch", requestId, tasks: [task, { ...task, payload: new Uint8Array(3) }] },
    { kind: "ClaimTask", requestId, queues: [FUZZ_QUEUE], max: 1 + Math.floor(random() * 5), waitMs: 0 },
    { kind: "TaskResult", requestId, ...ref, outcome: "completed", resultIsJson: false, result: new Uint8Array(4), error: "" },
    {
      kind: "TaskResultBatch",
      requestId,
      results: Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({ ...ref, outcome: "completed" as const, resultIsJson: false, result: new Uint8Array(2), error: "" })),
    },
    { kind: "Nack", requestId, leases: [ref] },
    { kind: "RenewLease", requestId, leases: [ref, ref] },
    { kind: "Heartbeat", requestId, workerId: "fuzz-worker", cpuPercent: 1, memoryMb: 2, inFlight: [ref] },
    { kind: "QueryStatus", requestId, id: ref.id },
    { kind: "CancelTask", requestId, id: ref.id },
    { kind: "RetryTask", requestId, id: ref.id },
    { kind: "ListTasks", requestId, queue: FUZZ_QUEUE, limit: 1 + Math.floor(random() * 5) },
    { kind: "GetStats", requestId },
    { kind: "ListWorkers", requestId },
  ];
  return pick(random, options);
}

function frame(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setUint32(0, body.length + 1);
  out[4] = type;
  out.set(body, 5);
  return out;
}

function deepJson(depth: number): Uint8Array {
  return encoder.encode("[".repeat(depth) + "]".repeat(depth));
}

/** One frame that keeps framing intact (the broker answers and reads on). */
export function framedFuzz(random: () => number, requestId: number): Uint8Array {
  const roll = random();
  // Large payloads are rare: every one is written to the store, and a long run sends millions of frames.
  const base = encodeRequest(validRequest(random, requestId, roll < 0.0005));
  const body = base.slice(5);
  const type = base[4]!;
  if (roll < 0.45) {
    // Flipped bytes inside the body (type byte left alone: the decoder of that message must cope).
    const flips = 1 + Math.floor(random() * 4);
    for (let i = 0; i < flips && body.length > 0; i++) body[Math.floor(random() * body.length)]! ^= 1 << Math.floor(random() * 8);
    return frame(type, body);
  }
  if (roll < 0.6) return frame(type, body.slice(0, Math.floor(random() * body.length)));
  if (roll < 0.7) return frame(type, new Uint8Array([...body, ...randomBytes(random, 1 + Math.floor(random() * 16))]));
  if (roll < 0.8) return frame(Math.floor(random() * 256), randomBytes(random, Math.floor(random() * 64)));
  if (roll < 0.85) return frame(0x80 + Math.floor(random() * 0x40), body);
  if (roll < 0.87) {
    const task = { type: "fuzz", queue: FUZZ_QUEUE, payload: deepJson(1 + Math.floor(random() * 100_000)), payloadIsJson: true };
    return encodeRequest({ kind: "SubmitTask", requestId, task });
  }
  if (roll < 0.9) return encodeRequest({ kind: "Hello", requestId, version: 1, apiKey: "", clientName: String.fromCharCode(...randomBytes(random, 20)) });
  return base;
}

/** A frame after which the broker may lose framing and close: goes last on a connection. */
export function closingFuzz(random: () => number): Uint8Array {
  const roll = random();
  const header = new Uint8Array(5);
  const view = new DataView(header.buffer);
  if (roll < 0.2) return header; // zero length
  if (roll < 0.3) return encodeRequest({ kind: "Hello", requestId: 1, version: 2 + Math.floor(random() * 1000), apiKey: "", clientName: "fuzz" });
  if (roll < 0.5) {
    view.setUint32(0, MAX_FRAME_BYTES + 1 + Math.floor(random() * 1_000_000));
    header[4] = 0x02;
    return header;
  }
  if (roll < 0.75) {
    // A huge declared length with a few bytes after it, then the client goes away.
    view.setUint32(0, MAX_FRAME_BYTES - Math.floor(random() * 1000));
    header[4] = 0x02;
    return new Uint8Array([...header, ...randomBytes(random, 1 + Math.floor(random() * 4096))]);
  }
  // A declared length longer than what follows.
  view.setUint32(0, 100 + Math.floor(random() * 100_000));
  header[4] = 0x0b;
  return new Uint8Array([...header, ...randomBytes(random, Math.floor(random() * 90))]);
}
