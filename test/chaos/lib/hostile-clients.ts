// Hostile clients against a live broker (child process), measured from outside: RSS from
// /proc/<pid>/status, a healthy client's Ping round trips, which slots a new client finds free.
// Scenarios: many connections that pipeline and never read; floods of valid or bad frames beside
// a healthy client; connections that hold slots (a frame trickled a byte at a time, no Hello).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Socket, Subprocess } from "bun";
import { encodeRequest } from "../../../src/protocol/frame-writer.ts";
import { RawConn } from "../../helpers/raw-conn.ts";
import { launchBroker, reap, rssKiB, type LaunchedBroker } from "./broker-proc.ts";
import type { FloodKind } from "./hostile-child.ts";

const HOSTILE_CHILD = resolve(import.meta.dir, "hostile-child.ts");
const MIB_KIB = 1024;

export interface HostileResult {
  /** Abusive operations (connections opened, frames or bytes sent). */
  operations: number;
  brokerExit: number;
  figures: Record<string, number>;
}

async function withBroker(
  env: Record<string, string>,
  body: (broker: LaunchedBroker, port: number) => Promise<{ operations: number; figures: Record<string, number> }>,
): Promise<HostileResult> {
  const dataDir = mkdtempSync(join(tmpdir(), "tq-chaos-hostile-"));
  const broker = launchBroker({ dataDir, env: { TQ_PERSISTENCE_SYNC: "interval", ...env } });
  try {
    const port = await broker.listening();
    const { operations, figures } = await body(broker, port);
    broker.proc.kill("SIGTERM");
    return { operations, figures, brokerExit: await broker.exited };
  } finally {
    await reap(broker);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Samples a process's RSS every 50 ms; peak() since start or the last reset. */
function rssSampler(pid: number): { peak(): number; reset(): void; stop(): void } {
  let peak = rssKiB(pid) ?? 0;
  const timer = setInterval(() => (peak = Math.max(peak, rssKiB(pid) ?? 0)), 50);
  return {
    peak: () => Math.max(peak, rssKiB(pid) ?? 0),
    reset: () => (peak = rssKiB(pid) ?? 0),
    stop: () => clearInterval(timer),
  };
}

interface ChildCounts {
  connections: number;
  bytesWritten: number;
  bytesRead: number;
  closedByBroker: number;
}

/** The hostile child process: resolves `written` after its write phase; close() ends its sockets. */
function spawnHostile(options: { port: number; kind: FloodKind; connections: number; writeMs: number; read: boolean }): {
  written: Promise<ChildCounts>;
  close(): Promise<ChildCounts>;
} {
  const proc: Subprocess<"pipe", "pipe", "inherit"> = Bun.spawn(
    [process.execPath, HOSTILE_CHILD, String(options.port), options.kind, String(options.connections), String(options.writeMs), options.read ? "1" : "0"],
    { stdin: "pipe", stdout: "pipe", stderr: "inherit" },
  );
  const lines: string[] = [];
  let text = "";
  const waiters: (() => void)[] = [];
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) {
      text += decoder.decode(chunk, { stream: true });
      let at: number;
      while ((at = text.indexOf("\n")) >= 0) {
        lines.push(text.slice(0, at));
        text = text.slice(at + 1);
        for (const wake of waiters.splice(0)) wake();
      }
    }
    for (const wake of waiters.splice(0)) wake();
  })();
  const lineStarting = async (prefix: string): Promise<ChildCounts> => {
    // Bounded: the child exits by itself after 120 s, which ends the stream.
    for (;;) {
      const line = lines.find((l) => l.startsWith(prefix));
      if (line) return JSON.parse(line.slice(prefix.length)) as ChildCounts;
      if (proc.exitCode !== null) throw new Error(`hostile child exited with ${proc.exitCode} before "${prefix}"`);
      await new Promise<void>((wake) => {
        waiters.push(wake);
        setTimeout(wake, 200);
      });
    }
  };
  return {
    written: lineStarting("WRITTEN "),
    async close() {
      proc.stdin.write("close\n");
      await proc.stdin.end();
      const counts = await lineStarting("CLOSED ");
      await proc.exited;
      return counts;
    },
  };
}

/** A healthy client pinging in a loop; stop() gives its round trips in ms. */
function pinger(port: number): { stop(): Promise<{ rtts: number[]; failures: number }> } {
  let stopped = false;
  const rtts: number[] = [];
  let failures = 0;
  const loop = (async () => {
    const conn = await RawConn.connect(port);
    // Bounded by stop() and by a cap on samples.
    for (let i = 0; i < 200_000 && !stopped; i++) {
      const t0 = performance.now();
      const pong = await conn.call({ kind: "Ping" }, 15_000).catch(() => null);
      if (pong?.kind === "Pong") rtts.push(performance.now() - t0);
      else failures++;
      if (conn.closed) break;
      await Bun.sleep(5);
    }
    conn.close();
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { rtts, failures };
    },
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (n: number, digits = 2): number => Number(n.toFixed(digits));

/** RSS within this of its value before the abuse counts as "returned". */
const RETURNED_SLACK_KIB = 64 * 1024;

/**
 * `connections` clients pipeline Pings (or another kind) as fast as their sockets take them and
 * never read a reply. The broker's RSS is sampled while they write and hold, then after they close
 * until it is back within 64 MiB of where it started (or `settleMs` passed); a healthy client
 * pings throughout.
 */
export async function nonReaders(options: { connections: number; writeMs: number; holdMs: number; settleMs: number; kind?: FloodKind; env?: Record<string, string> }): Promise<HostileResult> {
  const env = {
    ...options.env,
    TQ_BROKER_MAX_CONNECTIONS: String(options.connections + 10),
    TQ_BROKER_IDLE_TIMEOUT_SECS: "600",
  };
  return withBroker(env, async (broker, port) => {
    await Bun.sleep(300);
    const rssBefore = rssKiB(broker.pid) ?? 0;
    const sampler = rssSampler(broker.pid);
    const healthy = pinger(port);
    const child = spawnHostile({ port, kind: options.kind ?? "ping", connections: options.connections, writeMs: options.writeMs, read: false });
    const written = await child.written;
    await Bun.sleep(options.holdMs);
    const rssHeld = rssKiB(broker.pid) ?? 0;
    const peak = sampler.peak();
    sampler.reset();
    const closedAt = performance.now();
    const closed = await child.close();
    let rssAfterClose = rssKiB(broker.pid) ?? 0;
    // Bounded by settleMs: the garbage they left is freed at the runtime's next collection.
    while (rssAfterClose > rssBefore + RETURNED_SLACK_KIB && performance.now() - closedAt < options.settleMs) {
      await Bun.sleep(250);
      rssAfterClose = rssKiB(broker.pid) ?? 0;
    }
    const returnedAfterMs = performance.now() - closedAt;
    const closePeak = sampler.peak();
    sampler.stop();
    const { rtts, failures } = await healthy.stop();
    rtts.sort((a, b) => a - b);
    return {
      operations: written.connections,
      figures: {
        connections: written.connections,
        writtenMiB: round(written.bytesWritten / 1024 / 1024, 1),
        closedByBroker: closed.closedByBroker,
        rssBeforeMiB: round(rssBefore / MIB_KIB, 0),
        rssPeakMiB: round(peak / MIB_KIB, 0),
        rssHeldMiB: round(rssHeld / MIB_KIB, 0),
        perConnectionKiB: round((peak - rssBefore) / Math.max(1, written.connections), 0),
        rssPeakWhileClosingMiB: round(closePeak / MIB_KIB, 0),
        rssAfterCloseMiB: round(rssAfterClose / MIB_KIB, 0),
        returnedAfterS: round(returnedAfterMs / 1000, 1),
        healthyPings: rtts.length,
        healthyFailures: failures,
        healthyP99Ms: round(percentile(rtts, 99)),
      },
    };
  });
}

/**
 * `flooders` connections send frames of one kind as fast as they can (reading and discarding the
 * replies, so back-pressure does not slow them) while a healthy client pings; its round trips and
 * the broker's RSS are the figures.
 */
export async function floodLatency(options: { kind: FloodKind; flooders: number; durationMs: number }): Promise<HostileResult> {
  return withBroker({ TQ_BROKER_IDLE_TIMEOUT_SECS: "600" }, async (broker, port) => {
    await Bun.sleep(300);
    const rssBefore = rssKiB(broker.pid) ?? 0;
    const sampler = rssSampler(broker.pid);
    const child = spawnHostile({ port, kind: options.kind, connections: options.flooders, writeMs: options.durationMs, read: true });
    // Let the flood reach full speed before measuring.
    await Bun.sleep(300);
    const healthy = pinger(port);
    const written = await child.written;
    const { rtts, failures } = await healthy.stop();
    const closed = await child.close();
    const peak = sampler.peak();
    sampler.stop();
    rtts.sort((a, b) => a - b);
    return {
      operations: written.bytesWritten,
      figures: {
        flooders: options.flooders,
        floodMiB: round(written.bytesWritten / 1024 / 1024, 1),
        repliesMiB: round(written.bytesRead / 1024 / 1024, 1),
        reconnects: closed.closedByBroker,
        healthyPings: rtts.length,
        healthyFailures: failures,
        p50Ms: round(percentile(rtts, 50)),
        p99Ms: round(percentile(rtts, 99)),
        maxMs: round(rtts.at(-1) ?? Number.NaN),
        rssBeforeMiB: round(rssBefore / MIB_KIB, 0),
        rssPeakMiB: round(peak / MIB_KIB, 0),
      },
    };
  });
}

interface Holder {
  socket: Socket<undefined>;
  closed: boolean;
  /** Error codes the broker sent before closing (the frames' type 0xFF, code byte). */
  errorCodes: number[];
}

async function holder(port: number): Promise<Holder> {
  const h: Holder = { socket: null as unknown as Socket<undefined>, closed: false, errorCodes: [] };
  let buffer = new Uint8Array(0);
  h.socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, chunk) {
        const merged = new Uint8Array(buffer.length + chunk.length);
        merged.set(buffer);
        merged.set(chunk, buffer.length);
        let at = 0;
        while (merged.length - at >= 5) {
          const length = new DataView(merged.buffer, merged.byteOffset + at).getUint32(0);
          if (merged.length - at < 4 + length) break;
          // Error frame: type 0xFF, request id (4), code (u16).
          if (merged[at + 4] === 0xff && length >= 7) h.errorCodes.push((merged[at + 9]! << 8) | merged[at + 10]!);
          at += 4 + length;
        }
        buffer = merged.slice(at);
      },
      close() {
        h.closed = true;
      },
      error() {},
    },
  });
  return h;
}

/**
 * Holders take every slot of a broker with auth on: half announce an 8 MiB frame and trickle a
 * byte every `trickleMs`, half ping every `pingMs` without ever sending Hello. A new client is
 * refused at first (every slot is held); the deadlines must free the slots, after which a new
 * client is served.
 */
export async function slotHolders(options: { maxConnections: number; frameTimeoutSecs: number; authTimeoutSecs: number; trickleMs: number; pingMs: number; waitMs: number }): Promise<HostileResult> {
  const key = "hostile-test-key-0123456789";
  const env = {
    TQ_BROKER_MAX_CONNECTIONS: String(options.maxConnections),
    TQ_BROKER_IDLE_TIMEOUT_SECS: "600",
    TQ_BROKER_FRAME_TIMEOUT_SECS: String(options.frameTimeoutSecs),
    TQ_BROKER_AUTH_TIMEOUT_SECS: String(options.authTimeoutSecs),
    TQ_AUTH_ENABLED: "true",
    TQ_AUTH_API_KEYS: JSON.stringify([{ name: "chaos", role: "admin", key }]),
  };
  return withBroker(env, async (_broker, port) => {
    const holders = await Promise.all(Array.from({ length: options.maxConnections }, () => holder(port)));
    const tricklers = holders.slice(0, holders.length / 2);
    const pingers = holders.slice(holders.length / 2);
    const hello = encodeRequest({ kind: "Hello", requestId: 1, version: 1, apiKey: key, clientName: "trickler" });
    const ping = encodeRequest({ kind: "Ping", requestId: 2 });
    // Tricklers authenticate first: only the frame deadline may free them.
    for (const t of tricklers) t.socket.write(new Uint8Array([...hello, 0x00, 0x80, 0x00, 0x00, 0x02]));
    const start = performance.now();
    let refusedAtFirst = 0;
    const first = await RawConn.connect(port);
    const firstReply = await first.next(3000).catch(() => null);
    if (firstReply?.kind === "Error" && firstReply.code === 12) refusedAtFirst = 1;
    first.close();
    let stop = false;
    let trickled = 0;
    const trickle = (async () => {
      for (let i = 0; i < 100_000 && !stop; i++) {
        for (const t of tricklers) {
          if (t.closed) continue;
          t.socket.write(new Uint8Array([0x07]));
          trickled++;
        }
        await Bun.sleep(options.trickleMs);
      }
    })();
    const pinging = (async () => {
      for (let i = 0; i < 100_000 && !stop; i++) {
        for (const p of pingers) if (!p.closed) p.socket.write(ping);
        await Bun.sleep(options.pingMs);
      }
    })();
    // A new client tries every 250 ms until it is served (bounded by waitMs).
    let servedAfterMs = -1;
    while (performance.now() - start < options.waitMs && servedAfterMs < 0) {
      const conn = await RawConn.connect(port);
      const reply = await conn.call({ kind: "Hello", version: 1, apiKey: key, clientName: "newcomer" }, 2000).catch(() => null);
      if (reply?.kind === "HelloOk") servedAfterMs = performance.now() - start;
      conn.close();
      if (servedAfterMs < 0) await Bun.sleep(250);
    }
    stop = true;
    await Promise.all([trickle, pinging]);
    const closedTricklers = tricklers.filter((t) => t.closed).length;
    const closedPingers = pingers.filter((p) => p.closed).length;
    // What each was told before the close: Timeout (16) for an unfinished frame, Unauthorized (6) for no Hello.
    const tricklersToldTimeout = tricklers.filter((h) => h.errorCodes.includes(16)).length;
    const pingersToldUnauthorized = pingers.filter((h) => h.errorCodes.includes(6)).length;
    for (const h of holders) h.socket.end();
    return {
      operations: holders.length + trickled,
      figures: {
        holders: holders.length,
        refusedAtFirst,
        closedTricklers,
        closedPingers,
        tricklersToldTimeout,
        pingersToldUnauthorized,
        servedAfterMs: Math.round(servedAfterMs),
      },
    };
  });
}
