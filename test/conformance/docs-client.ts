// A minimal protocol client written from docs/PROTOCOL.md alone (its codec is docs-codec.ts, not
// src/protocol): one TCP connection, frames split by their length prefix, replies matched by
// request id, pushed frames (TaskCancelled, Delivery) kept apart by their type byte.

import { connect, type Socket } from "node:net";
import { decode, encode, type Json, type Msg } from "./docs-codec.ts";

export type Frame = Msg & { type: number };
const PUSHED = new Set([0x8f, 0x90]);

export class DocsClient {
  private buf = Buffer.alloc(0);
  /** Every frame received, in order; `taken` marks the ones a wait consumed. */
  readonly frames: Frame[] = [];
  private taken = new Set<Frame>();
  private wakers: (() => void)[] = [];
  private nextId = 1;
  closed = false;
  readonly closedPromise: Promise<void>;

  private constructor(private socket: Socket) {
    let markClosed!: () => void;
    this.closedPromise = new Promise((r) => (markClosed = r));
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("close", () => { this.closed = true; markClosed(); this.wake(); });
    socket.on("error", () => {});
  }

  static open(port: number, host = "127.0.0.1"): Promise<DocsClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host }, () => resolve(new DocsClient(s)));
      s.once("error", reject);
    });
  }

  private onData(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (this.buf.length < 4 + len) break;
      const type = this.buf[4]!;
      const body = new Uint8Array(this.buf.subarray(5, 4 + len));
      this.buf = this.buf.subarray(4 + len);
      let m: Msg;
      try { m = decode(type, body); } catch (e) { m = { kind: "Undecodable", requestId: -1, error: String(e) }; }
      this.frames.push({ ...m, type });
    }
    this.wake();
  }

  private wake(): void { const w = this.wakers; this.wakers = []; for (const f of w) f(); }

  /** Stops reading from the socket (the broker's replies pile up unread) until resume(). */
  pause(): void { this.socket.pause(); }
  resume(): void { this.socket.resume(); }

  /** Raw bytes, as they are. */
  send(bytes: Uint8Array): void { this.socket.write(bytes); }

  /** Sends a request without waiting; returns its request id. */
  post(m: Omit<Msg, "requestId"> & { requestId?: number }): number {
    const requestId = m.requestId ?? this.nextId++;
    this.send(encode({ ...m, requestId } as Msg));
    return requestId;
  }

  /** The first not-yet-taken frame matching `pred`, waiting up to timeoutMs (then throws). */
  async waitFor(pred: (f: Frame) => boolean, timeoutMs = 5000, what = "frame"): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find((x) => !this.taken.has(x) && pred(x));
      if (f) { this.taken.add(f); return f; }
      if (this.closed) throw new Error(`connection closed while waiting for ${what}; last frames: ${JSON.stringify(this.frames.slice(-3)).slice(0, 2000)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms; last frames: ${JSON.stringify(this.frames.slice(-3)).slice(0, 2000)}`);
      await new Promise<void>((r) => { const t = setTimeout(r, left); this.wakers.push(() => { clearTimeout(t); r(); }); });
    }
  }

  /** Waits for the reply (not a pushed frame) carrying `requestId`. */
  reply(requestId: number, timeoutMs = 5000): Promise<Frame> {
    return this.waitFor((f) => f.requestId === requestId && !PUSHED.has(f.type), timeoutMs, `reply to ${requestId}`);
  }

  /** Sends a request and waits for its reply. */
  async call(m: Omit<Msg, "requestId"> & { requestId?: number }, timeoutMs = 5000): Promise<Frame> {
    return this.reply(this.post(m), timeoutMs);
  }

  /** Like call, but fails unless the reply is of kind `kind`. */
  async ok(m: Omit<Msg, "requestId"> & { requestId?: number }, kind: string, timeoutMs = 5000): Promise<Frame> {
    const r = await this.call(m, timeoutMs);
    if (r.kind !== kind) throw new Error(`${m.kind} answered ${JSON.stringify(r)}, expected ${kind}`);
    return r;
  }

  /** Next pushed frame of a kind. */
  pushed(kind: "Delivery" | "TaskCancelled", timeoutMs = 5000): Promise<Frame> {
    return this.waitFor((f) => f.kind === kind && f.requestId === 0, timeoutMs, kind);
  }

  /** Frames of a kind not yet taken (without waiting). */
  pending(kind: string): Frame[] { return this.frames.filter((f) => !this.taken.has(f) && f.kind === kind); }

  /** Resolves true if the connection closes within timeoutMs. */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    return Promise.race([this.closedPromise.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs))]);
  }

  close(): void { this.socket.destroy(); }
}

/** Shorthands for building messages the way the doc's JSON lines write them. */
export const spec = (type: string, extra: Record<string, Json> = {}): Record<string, Json> => ({ type, queue: "", payload: { utf8: "" }, payloadIsJson: false, ...extra });
export const stats = async (c: DocsClient): Promise<Record<string, unknown>> => JSON.parse(String((await c.ok({ kind: "GetStats" }, "Stats")).json));
