// Scenario 3: abusive connections against a live broker (child process) while a Canary works:
// slow-loris writers, half-open sockets, a client that never reads, a flood past max_connections,
// and descriptor exhaustion under `ulimit -n`. Each function starts and stops its own broker.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "bun";
import { encodeRequest } from "../../../src/protocol/frame-writer.ts";
import { RawConn } from "../../helpers/raw-conn.ts";
import { cpuTicks, launchBroker, openFds, reap, rssKiB, type LaunchedBroker } from "./broker-proc.ts";
import { Canary, type CanaryReport } from "./canary.ts";

export interface AbuseResult {
  /** Abusive operations performed (bytes dribbled, sockets opened, requests sent...). */
  operations: number;
  canary: CanaryReport;
  brokerExit: number;
  /** Everything else worth printing or asserting, by name. */
  figures: Record<string, number>;
}

async function withBroker(env: Record<string, string>, body: (broker: LaunchedBroker, port: number) => Promise<{ operations: number; figures: Record<string, number> }>, shellPrefix?: string): Promise<AbuseResult> {
  const dataDir = mkdtempSync(join(tmpdir(), "tq-chaos-conn-"));
  const broker = launchBroker({ dataDir, env: { TQ_PERSISTENCE_SYNC: "interval", ...env }, ...(shellPrefix === undefined ? {} : { shellPrefix }) });
  let canary: Canary | null = null;
  try {
    const port = await broker.listening();
    canary = await Canary.start(port);
    const { operations, figures } = await body(broker, port);
    const report = await canary.stop();
    canary = null;
    broker.proc.kill("SIGTERM");
    const brokerExit = await broker.exited;
    return { operations, canary: report, brokerExit, figures };
  } finally {
    if (canary) await canary.stop().catch(() => undefined);
    await reap(broker);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function rawSocket(port: number, onClose: () => void, onData: (chunk: Uint8Array) => void = () => {}): Promise<Socket<undefined>> {
  return Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, c) => onData(c), close: onClose, error: () => {} } });
}

/** Counts whole response frames in a byte stream (enough for "did the reply come"). */
function frameCounter(): { push(chunk: Uint8Array): void; frames: number[] } {
  let buffer = new Uint8Array(0);
  const frames: number[] = [];
  return {
    frames,
    push(chunk) {
      const merged = new Uint8Array(buffer.length + chunk.length);
      merged.set(buffer);
      merged.set(chunk, buffer.length);
      let at = 0;
      while (merged.length - at >= 5) {
        const length = new DataView(merged.buffer, merged.byteOffset + at).getUint32(0);
        if (merged.length - at < 4 + length) break;
        frames.push(merged[at + 4]!);
        at += 4 + length;
      }
      buffer = merged.slice(at);
    },
  };
}

/** Slow-loris: `clients` connections each write a SubmitTask one byte every `byteIntervalMs`; each must get Submitted. */
export async function slowLoris(options: { clients: number; byteIntervalMs: number }): Promise<AbuseResult> {
  return withBroker({ TQ_BROKER_IDLE_TIMEOUT_SECS: "5" }, async (_broker, port) => {
    let bytes = 0;
    const replies = await Promise.all(
      Array.from({ length: options.clients }, async (_, i) => {
        const counter = frameCounter();
        let closed = false;
        const socket = await rawSocket(port, () => (closed = true), (c) => counter.push(c));
        const frame = encodeRequest({ kind: "SubmitTask", requestId: 1, task: { type: "slow", queue: "slow", payload: new TextEncoder().encode(`{"i":${i}}`), payloadIsJson: true } });
        for (let b = 0; b < frame.length && !closed; b++) {
          socket.write(frame.subarray(b, b + 1));
          bytes++;
          await Bun.sleep(options.byteIntervalMs);
        }
        for (let wait = 0; wait < 200 && counter.frames.length === 0 && !closed; wait++) await Bun.sleep(25);
        socket.end();
        return counter.frames[0] === 0x82 ? 1 : 0;
      }),
    );
    return { operations: bytes, figures: { slowClients: options.clients, submittedReplies: replies.reduce((a: number, b) => a + b, 0) } };
  });
}

/** Half-open: sockets that send part of a header and go silent must be closed by the idle timeout. */
export async function halfOpen(options: { sockets: number }): Promise<AbuseResult> {
  return withBroker({ TQ_BROKER_IDLE_TIMEOUT_SECS: "1" }, async (broker, port) => {
    let closedByBroker = 0;
    const sockets = await Promise.all(
      Array.from({ length: options.sockets }, async (_, i) => {
        const socket = await rawSocket(port, () => closedByBroker++);
        socket.write(new Uint8Array([0, 0, 0, 40, 0x02].slice(0, 1 + (i % 4))));
        return socket;
      }),
    );
    for (let wait = 0; wait < 400 && closedByBroker < options.sockets; wait++) await Bun.sleep(25);
    const fdsAfter = openFds(broker.pid) ?? -1;
    for (const s of sockets) s.end();
    return { operations: options.sockets, figures: { halfOpen: options.sockets, closedByBroker, brokerFdsAfter: fdsAfter } };
  });
}

/**
 * A client that pipelines QueryStatus requests for a task of `payloadBytes` and never reads the
 * replies. The broker must stop reading it once its outbound queue passes the cap, so its RSS stays
 * bounded. Requests go out `perWrite` at a time until the socket takes no more or all are sent;
 * then the broker's RSS is sampled for `settleMs`.
 */
export async function nonReader(options: { requests: number; perWrite: number; payloadBytes: number; capBytes: number; settleMs: number }): Promise<AbuseResult> {
  return withBroker({ TQ_BROKER_MAX_OUTBOUND_BUFFER_BYTES: String(options.capBytes), TQ_BROKER_IDLE_TIMEOUT_SECS: "60" }, async (broker, port) => {
    const setup = await RawConn.connect(port);
    const big = new Uint8Array(options.payloadBytes).fill(7);
    const sub = await setup.call({ kind: "SubmitTask", task: { type: "big", queue: "big", payload: big, payloadIsJson: false } });
    if (sub.kind !== "Submitted") throw new Error(`setup submit answered ${sub.kind}`);
    setup.close();
    const rssBefore = rssKiB(broker.pid) ?? 0;
    const socket = await rawSocket(port, () => {});
    socket.pause();
    const one = encodeRequest({ kind: "QueryStatus", requestId: 1, id: sub.id });
    const block = new Uint8Array(one.length * options.perWrite);
    for (let i = 0; i < options.perWrite; i++) block.set(one, i * one.length);
    let sentBytes = 0;
    let stuckWrites = 0;
    let pending: Uint8Array = new Uint8Array(0);
    let peak = rssBefore;
    const totalBytes = options.requests * one.length;
    // Bounded by the request count and by 50 writes the socket refused.
    while (sentBytes < totalBytes && stuckWrites < 50) {
      if (pending.length === 0) pending = block.subarray(0, Math.min(block.length, totalBytes - sentBytes));
      const n = socket.write(pending);
      if (n > 0) {
        pending = pending.subarray(n);
        sentBytes += n;
      } else {
        // The kernel buffers are full: the broker has stopped reading (or is slow). Give it time.
        stuckWrites++;
        await Bun.sleep(20);
      }
      peak = Math.max(peak, rssKiB(broker.pid) ?? 0);
    }
    for (let waited = 0; waited < options.settleMs; waited += 100) {
      await Bun.sleep(100);
      peak = Math.max(peak, rssKiB(broker.pid) ?? 0);
    }
    // Another client is served meanwhile (the canary also runs throughout).
    const other = await RawConn.connect(port);
    const pong = await other.call({ kind: "Ping" }, 10_000).catch(() => null);
    other.close();
    socket.end();
    const sent = Math.floor(sentBytes / one.length);
    return {
      operations: sent,
      figures: {
        requestsSent: sent,
        repliesWantedMiB: Math.round((sent * big.length) / 1024 / 1024),
        stoppedBeforeAll: stuckWrites >= 50 ? 1 : 0,
        rssBeforeKiB: rssBefore,
        rssPeakKiB: peak,
        otherPong: pong?.kind === "Pong" ? 1 : 0,
      },
    };
  });
}

/** Opens `connections` past max_connections (set to `max`); the extra ones must be refused and closed, with no CPU spin after. */
export async function flood(options: { max: number; connections: number }): Promise<AbuseResult> {
  return withBroker({ TQ_BROKER_MAX_CONNECTIONS: String(options.max) }, async (broker, port) => {
    const results = await Promise.all(
      Array.from({ length: options.connections }, async () => {
        try {
          const conn = await RawConn.connect(port);
          const response = await conn.next(3000).catch(() => null);
          if (response?.kind === "Error" && response.code === 12) {
            await conn.waitClosed(3000).catch(() => undefined);
            return { conn, refused: true, closed: conn.closed };
          }
          return { conn, refused: false, closed: conn.closed };
        } catch {
          return { conn: null, refused: false, closed: true };
        }
      }),
    );
    const refused = results.filter((r) => r.refused).length;
    const refusedAndClosed = results.filter((r) => r.refused && r.closed).length;
    const usable = await Promise.all(
      results.filter((r) => !r.refused && r.conn && !r.conn.closed).map(async (r) => (await r.conn!.call({ kind: "Ping" }).catch(() => null))?.kind === "Pong"),
    );
    for (const r of results) r.conn?.close();
    await Bun.sleep(300);
    const cpu0 = cpuTicks(broker.pid) ?? 0;
    await Bun.sleep(1000);
    const idleTicks = (cpuTicks(broker.pid) ?? 0) - cpu0;
    return {
      operations: options.connections,
      figures: { refused, refusedAndClosed, accepted: usable.filter(Boolean).length, idleCpuTicksPerSecond: idleTicks },
    };
  });
}

/**
 * Starts the broker under `ulimit -n <fdLimit>` and opens more connections than it has
 * descriptors. Once they are closed, a new client must be served; CPU use while exhausted is measured.
 */
export async function fdExhaustion(options: { fdLimit: number; connections: number }): Promise<AbuseResult> {
  return withBroker(
    { TQ_BROKER_MAX_CONNECTIONS: "100000" },
    async (broker, port) => {
      const sockets: Socket<undefined>[] = [];
      let connectFailures = 0;
      for (let i = 0; i < options.connections; i++) {
        try {
          sockets.push(await rawSocket(port, () => {}));
        } catch {
          connectFailures++;
        }
      }
      await Bun.sleep(300);
      const fdsExhausted = openFds(broker.pid) ?? -1;
      const cpu0 = cpuTicks(broker.pid) ?? 0;
      await Bun.sleep(1000);
      const exhaustedTicks = (cpuTicks(broker.pid) ?? 0) - cpu0;
      for (const s of sockets) s.end();
      // A new client after the flood: retried for a while, as descriptors come back as the broker sees the closes.
      let served = 0;
      for (let attempt = 0; attempt < 40 && served === 0; attempt++) {
        try {
          const conn = await RawConn.connect(port);
          const pong = await conn.call({ kind: "Ping" }, 500).catch(() => null);
          conn.close();
          if (pong?.kind === "Pong") served = 1;
        } catch {
          // not yet
        }
        if (served === 0) await Bun.sleep(100);
      }
      return {
        operations: options.connections,
        figures: { fdLimit: options.fdLimit, connectFailures, fdsExhausted, exhaustedCpuTicksPerSecond: exhaustedTicks, servedAfter: served },
      };
    },
    `ulimit -n ${options.fdLimit}`,
  );
}
