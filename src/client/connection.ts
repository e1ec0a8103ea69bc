// One socket to the broker (node:net or node:tls, so the SDK runs under Bun and Node.js): writes
// request frames coalesced per microtask, splits the byte stream into decoded responses. Knows
// nothing of request ids, Hello or reconnecting; that is request-channel.ts's business.

import * as net from "node:net";
import * as tls from "node:tls";
import { FrameDecoder } from "../protocol/frame-decoder.ts";
import { FrameWriter } from "../protocol/frame-writer.ts";
import type { Request, Response } from "../protocol/messages.ts";
import { decodeResponse } from "../protocol/response-codec.ts";
import type { TlsOptions } from "./client-options.ts";

export interface ConnectionTarget {
  host: string;
  port: number;
  tls: TlsOptions & { enabled: boolean };
  connectTimeoutMs: number;
}

export interface ConnectionEvents {
  /** A whole response arrived. */
  response(m: Response): void;
  /** The socket is gone; `error` says why when it was not a clean end. Called once. */
  closed(error: Error | null): void;
}

export class Connection {
  private readonly socket: net.Socket;
  private readonly decoder = new FrameDecoder();
  private readonly outbox = new FrameWriter();
  private flushQueued = false;
  private isClosed = false;
  private closeError: Error | null = null;
  private readonly events: ConnectionEvents;
  private readonly where: string;
  /** Set once the first bytes the server sent looked like the start of a tq-broker frame. */
  private replyJudged = false;
  /** Resolves once the socket is connected (and the TLS handshake done); rejects if it fails first. */
  readonly opened: Promise<void>;

  constructor(target: ConnectionTarget, events: ConnectionEvents) {
    this.events = events;
    this.where = `${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`;
    const socket = target.tls.enabled
      ? tls.connect({
          host: target.host,
          port: target.port,
          servername: target.tls.servername ?? (net.isIP(target.host) === 0 ? target.host : undefined),
          ca: target.tls.ca as tls.ConnectionOptions["ca"],
          rejectUnauthorized: target.tls.rejectUnauthorized ?? true,
        })
      : net.connect({ host: target.host, port: target.port });
    this.socket = socket;
    socket.setNoDelay(true);
    this.opened = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.destroy(new Error(`connecting to ${target.host}:${target.port} took over ${target.connectTimeoutMs} ms`));
      }, target.connectTimeoutMs);
      const onOpen = (): void => {
        clearTimeout(timer);
        socket.off("close", onFail);
        resolve();
      };
      const onFail = (): void => {
        clearTimeout(timer);
        reject(this.closeError ?? new Error(`connection to ${target.host}:${target.port} closed while connecting`));
      };
      socket.once(target.tls.enabled ? "secureConnect" : "connect", onOpen);
      socket.once("close", onFail);
    });
    // A failed open is reported through `opened`; keep it from also being an unhandled rejection.
    this.opened.catch(() => {});
    socket.on("data", (chunk: Uint8Array) => this.onData(chunk));
    socket.on("error", (err: Error) => {
      this.closeError ??= err;
    });
    socket.on("close", () => this.finish());
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Queues a request frame; all frames queued in one microtask go out in one write. Throws
   * (synchronously, nothing queued) when a value does not fit its field or the frame is too large.
   */
  send(m: Request): void {
    if (this.isClosed) throw new Error("connection closed");
    this.outbox.request(m);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  /** Half-closes after pending writes; the close event follows when the broker closes its side. */
  end(): void {
    this.flush();
    if (!this.isClosed) this.socket.end();
  }

  destroy(error: Error | null = null): void {
    if (error !== null) this.closeError ??= error;
    this.socket.destroy();
    this.finish();
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.isClosed || this.outbox.length === 0) return;
    // write() returning false only means Node buffers the rest in memory; the request timeouts
    // bound how long anything waits, so there is no separate drain wait here.
    this.socket.write(this.outbox.take());
  }

  private onData(chunk: Uint8Array): void {
    if (this.isClosed) return;
    if (!this.replyJudged && chunk.length > 0) {
      const stranger = notTqBroker(chunk);
      if (stranger !== null) {
        this.destroy(new Error(`the server at ${this.where} ${stranger}`));
        return;
      }
      this.replyJudged = true;
    }
    this.decoder.push(chunk);
    try {
      for (let frame = this.decoder.next(); frame !== null; frame = this.decoder.next()) {
        const m = decodeResponse(frame.type, frame.body);
        this.events.response(m);
        if (this.isClosed) return;
      }
    } catch (err) {
      // The stream can no longer be trusted to be in step: drop it, the client reconnects.
      this.destroy(new Error(`bad frame from the broker: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
    }
  }

  private finish(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.events.closed(this.closeError);
  }
}

/**
 * Judges the first bytes a server sent. A tq-broker reply starts with a big-endian frame length
 * of at most 16 MiB, so its first byte is 0x00 or 0x01; anything else is another protocol, named
 * when recognised ("answered like HTTP, not tq-broker ...") instead of reported as an absurd frame
 * length. Returns null when the bytes may be ours.
 */
function notTqBroker(first: Uint8Array): string | null {
  if (first[0]! <= 0x01) return null;
  const text = new TextDecoder("latin1").decode(first.subarray(0, 64));
  const line = JSON.stringify((text.split(/\r?\n/, 1)[0] ?? "").slice(0, 60));
  if (/^HTTP\/\d/.test(text) || text.startsWith("HTTP")) {
    return `answered like HTTP, not tq-broker (it sent ${line}); is this the REST or metrics port instead of the protocol port (broker.port)?`;
  }
  // RESP: a type byte, text, CRLF. tq-broker's default port is Redis's, so a Redis there is likely.
  if (/^[-+:$*][^\r\n]*\r\n/.test(text)) {
    return `answered like Redis, not tq-broker (it sent ${line}); another server (Redis?) listens on this port`;
  }
  // A TLS record (alert 0x15 or handshake 0x16, version 3.x) in answer to plain bytes.
  if ((first[0] === 0x15 || first[0] === 0x16) && first[1] === 0x03) {
    return "answered with TLS, not plain tq-broker frames; use a tqs:// URL";
  }
  if (text.startsWith("SSH-")) return `answered like SSH, not tq-broker (it sent ${line})`;
  const hex = Array.from(first.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(" ");
  return `answered with bytes that are not tq-broker's protocol (first bytes ${hex}); is the URL's port the broker's protocol port (broker.port)?`;
}
