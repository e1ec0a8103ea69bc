// Scenario 2: hostile frames against a live broker (child process) on many connections at once,
// while a Canary works; the broker's RSS is sampled from /proc. Every reply the broker sends is
// decoded: a reply our own decoder cannot read is counted as unexpected.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "bun";
import { decodeRequest } from "../../../src/protocol/request-codec.ts";
import { decodeResponse } from "../../../src/protocol/response-codec.ts";
import { encodeRequest } from "../../../src/protocol/frame-writer.ts";
import { launchBroker, reap, rssKiB, type LaunchedBroker } from "./broker-proc.ts";
import { Canary, type CanaryReport } from "./canary.ts";
import { closingFuzz, framedFuzz } from "./frame-fuzzer.ts";
import type { ChaosRow } from "./summary.ts";
import { seededRandom } from "./tier.ts";

export interface CodecFuzzParams {
  frames: number;
  budgetMs: number;
  seed: number;
  /** Connections fuzzing at once. */
  parallel?: number;
  /** How long a connection may wait for its closing Pong before it counts as a stall (30 s). */
  stallMs?: number;
}

export interface CodecFuzzReport {
  row: ChaosRow;
  framesSent: number;
  connections: number;
  /** Connections whose closing Ping got no answer and no close within the wait. */
  stalls: number;
  /** For each stall: the first requests of that connection that got no reply, decoded. */
  stallDetails: string[];
  undecodableReplies: string[];
  internalErrors: number;
  peakRssKiB: number;
  startRssKiB: number;
  endRssKiB: number;
  canary: CanaryReport;
  brokerExit: number | null;
  /** Broker log lines at level error (each a bug: Internal means "not expected"). */
  errorLines: string[];
}

const PING_ID = 0xfffffff0;
/**
 * Memory bounds. Peak: replies carrying up to ten 1.3 MiB payloads on 8 busy connections, and
 * garbage the GC has not returned yet (measured peaks: 415 MiB short, 718 MiB long). End: what is
 * still held once the fuzzing stopped, which a leak would grow with the frame count.
 */
export const PEAK_RSS_LIMIT_KIB = 1024 * 1024;
export const END_RSS_LIMIT_KIB = 512 * 1024;

/** Sends one connection's worth of frames, then waits for the Ping's Pong or the close. */
/**
 * Describes the requests among `parts` that got no reply: what a stall waits on. Flipped bytes
 * can give two requests the same id, so replies are counted per id and matched in send order.
 */
export function unanswered(parts: readonly Uint8Array[], answered: ReadonlyMap<number, number>): { text: string } {
  const left = new Map(answered);
  const out: string[] = [];
  for (const part of parts) {
    if (out.length >= 3 || part.length < 9) continue;
    try {
      const request = decodeRequest(part[4]!, part.subarray(5));
      const n = left.get(request.requestId) ?? 0;
      if (n > 0) {
        left.set(request.requestId, n - 1);
        continue;
      }
      out.push(JSON.stringify(request, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v)).slice(0, 300));
    } catch {
      // Undecodable frames are answered with request id 0 or their own; not what a stall waits on.
    }
  }
  return { text: out.join(" | ") || "(every decodable request was answered)" };
}

function bytesOf(parts: readonly Uint8Array[]): number {
  return parts.reduce((n, p) => n + p.length, 0);
}

export async function fuzzOne(port: number, bytes: Uint8Array, endsWithPing: boolean, stallMs: number, onReply: (type: number, body: Uint8Array) => void): Promise<{ outcome: "pong" | "closed" | "stall"; answered: ReadonlyMap<number, number>; unsentBytes: number }> {
  let chunks: Uint8Array[] = [];
  let buffered = 0;
  /** Bytes of the frame being received (header included); 0 until its header is in. */
  let needed = 0;
  /** The first `n` buffered bytes as one array, without consuming them. */
  const concat = (n: number): Uint8Array => {
    const out = new Uint8Array(n);
    let at = 0;
    for (const c of chunks) {
      if (at >= n) break;
      const part = c.subarray(0, n - at);
      out.set(part, at);
      at += part.length;
    }
    return out;
  };
  const take = (n: number): Uint8Array => {
    const out = concat(n);
    let left = n;
    while (left > 0) {
      const first = chunks[0]!;
      if (first.length <= left) {
        chunks.shift();
        left -= first.length;
      } else {
        chunks[0] = first.subarray(left);
        left = 0;
      }
    }
    buffered -= n;
    if (chunks.length === 0) chunks = [];
    return out;
  };
  /** Replies received per request id. */
  const answeredIds = new Map<number, number>();
  let settle: (outcome: "pong" | "closed" | "stall") => void = () => {};
  const done = new Promise<"pong" | "closed" | "stall">((resolve) => (settle = resolve));
  let pending = bytes;
  const pump = (socket: Socket<undefined>): void => {
    while (pending.length > 0) {
      const n = socket.write(pending);
      if (n <= 0) return;
      pending = pending.subarray(n);
    }
  };
  let socket: Socket<undefined>;
  try {
    socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data(_s, chunk) {
          // Chunks are joined only once a whole frame is there: a multi-MiB reply arriving in
          // 64 KiB pieces must not be copied again for every piece (quadratic in the reply size).
          chunks.push(chunk.slice());
          buffered += chunk.length;
          for (;;) {
            if (needed === 0 && buffered >= 4) needed = 4 + new DataView(concat(4).buffer).getUint32(0);
            if (needed === 0 || buffered < needed) return;
            const frame = take(needed);
            needed = 0;
            const type = frame[4] ?? -1;
            const body = frame.subarray(5);
            onReply(type, body);
            if (body.length >= 4) {
              const id = new DataView(body.buffer, body.byteOffset).getUint32(0);
              answeredIds.set(id, (answeredIds.get(id) ?? 0) + 1);
            }
            if (endsWithPing && type === 0x8d && body.length >= 4 && new DataView(body.buffer, body.byteOffset).getUint32(0) === PING_ID) settle("pong");
          }
        },
        drain: (s) => pump(s),
        close: () => settle("closed"),
        error: () => settle("closed"),
      },
    });
  } catch {
    return { outcome: "closed", answered: answeredIds, unsentBytes: pending.length };
  }
  pump(socket);
  // A connection ending in a frame that leaves the broker waiting for more bytes is abandoned by
  // this client (that is the test: a client that vanishes mid-frame); only a missing Pong is a stall.
  const timer = setTimeout(() => settle(endsWithPing ? "stall" : "closed"), endsWithPing ? stallMs : 200);
  const outcome = await done;
  clearTimeout(timer);
  socket.end();
  return { outcome, answered: answeredIds, unsentBytes: pending.length };
}

export async function runCodecFuzz(params: CodecFuzzParams): Promise<CodecFuzzReport> {
  const random = seededRandom(params.seed);
  const dataDir = mkdtempSync(join(tmpdir(), "tq-chaos-fuzz-"));
  let broker: LaunchedBroker | null = null;
  const started = Date.now();
  const undecodable: string[] = [];
  let internalErrors = 0;
  let framesSent = 0;
  let connections = 0;
  let stalls = 0;
  const stallDetails: string[] = [];
  let peak = 0;
  let canary: Canary | null = null;
  try {
    // Fewer group-commit fsyncs: what is measured here is parsing, not durability.
    // The fuzzer's well-formed submits are accepted and never claimed: over a long run they reach
    // the default queue_depth_threshold, and the canary's own submits would then rightly get
    // QueueFull. Backpressure is not what this scenario tests, so the threshold is out of reach.
    broker = launchBroker({
      dataDir,
      env: { TQ_PERSISTENCE_SYNC: "interval", TQ_BROKER_MAX_CONNECTIONS: "1000", TQ_BROKER_QUEUE_DEPTH_THRESHOLD: "100000000" },
    });
    const port = await broker.listening();
    const pid = broker.pid;
    const startRss = rssKiB(pid) ?? 0;
    const sampler = setInterval(() => {
      const rss = rssKiB(pid);
      if (rss !== null && rss > peak) peak = rss;
    }, 100);
    canary = await Canary.start(port);
    const onReply = (type: number, body: Uint8Array): void => {
      try {
        const response = decodeResponse(type, body);
        if (response.kind === "Error" && response.code === 255) internalErrors++;
      } catch (err) {
        if (undecodable.length < 20) undecodable.push(`type 0x${type.toString(16)} (${body.length} bytes): ${String(err)}`);
      }
    };
    const parallel = params.parallel ?? 8;
    const lane = async (): Promise<void> => {
      for (let i = 0; i < 10_000_000 && framesSent < params.frames && Date.now() - started < params.budgetMs; i++) {
        const count = 20 + Math.floor(random() * 400);
        const parts: Uint8Array[] = [];
        for (let f = 0; f < count; f++) parts.push(framedFuzz(random, 1 + f));
        const closing = random() < 0.3;
        if (closing) parts.push(closingFuzz(random));
        else parts.push(encodeRequest({ kind: "Ping", requestId: PING_ID }));
        framesSent += parts.length;
        connections++;
        const { outcome, answered, unsentBytes } = await fuzzOne(port, Buffer.concat(parts), !closing, params.stallMs ?? 30_000, onReply);
        if (outcome === "stall") {
          const what = unanswered(parts, answered);
          stalls++;
          // The exact bytes, so the stall can be replayed against a fresh broker.
          const dump = join(tmpdir(), `tq-fuzz-stall-${params.seed}-${stalls}.bin`);
          writeFileSync(dump, Buffer.concat(parts));
          // Unsent bytes left tell a client-side write stall from a broker that stopped answering.
          if (stallDetails.length < 10) stallDetails.push(`${what.text} (unsent: ${unsentBytes} of ${bytesOf(parts)} bytes; dump: ${dump})`);
        }
      }
    };
    await Promise.all(Array.from({ length: parallel }, lane));
    clearInterval(sampler);
    const report = await canary.stop();
    canary = null;
    const endRss = rssKiB(pid) ?? 0;
    peak = Math.max(peak, endRss);
    const alive = broker.proc.exitCode === null;
    broker.proc.kill("SIGTERM");
    const brokerExit = await broker.exited;
    const errorLines = broker
      .output()
      .split("\n")
      .filter((l) => l.includes('"level":"error"'))
      .slice(0, 20);
    const crashes = alive && brokerExit === 0 ? 0 : 1;
    const unexpected = undecodable.length + internalErrors + errorLines.length;
    const pass = crashes === 0 && report.errors.length === 0 && unexpected === 0 && stalls === 0 && peak < PEAK_RSS_LIMIT_KIB && endRss < END_RSS_LIMIT_KIB;
    return {
      row: {
        test: "codec-fuzz",
        operations: framesSent,
        lost: 0,
        unexpected,
        duplicates: 0,
        crashes,
        pass,
        note: `seed ${params.seed}; ${connections} connections; RSS start ${Math.round(startRss / 1024)} MiB, peak ${Math.round(peak / 1024)} MiB, end ${Math.round(endRss / 1024)} MiB; canary ${report.rounds} rounds, ${report.errors.length} errors; stalls ${stalls}; ${Math.round((Date.now() - started) / 1000)} s`,
      },
      framesSent,
      connections,
      stalls,
      stallDetails,
      undecodableReplies: undecodable,
      internalErrors,
      peakRssKiB: peak,
      startRssKiB: startRss,
      endRssKiB: endRss,
      canary: report,
      brokerExit,
      errorLines,
    };
  } finally {
    if (canary) await canary.stop().catch(() => undefined);
    await reap(broker);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
