// WireConn: the bench agents' own pipelined protocol connection (Bun.connect + the codec), lean on
// purpose so the figures measure the broker rather than a client: frames written in one tick go
// out in one socket write. Knows no workload; it must not retry or reconnect (a bench that hides
// faults lies).

import type { Socket } from "bun";
import { FrameDecoder, FrameWriter, decodeResponse } from "../protocol/codec.ts";
import type { Request, Response } from "../protocol/messages.ts";

/** A request as the caller writes it: the connection assigns the request id. */
export type Outgoing = Request extends infer R ? (R extends Request ? Omit<R, "requestId"> : never) : never;

type Waiter = (response: Response) => void;

export class WireConn {
  private readonly socket: Socket<undefined>;
  private readonly writer = new FrameWriter(64 * 1024);
  private readonly waiters = new Map<number, Waiter>();
  /** Bytes the socket did not take yet, written first on drain. */
  private backlog: Uint8Array[] = [];
  private flushQueued = false;
  private nextRequestId = 1;
  private failure: Error | null = null;

  private constructor(socket: Socket<undefined>) {
    this.socket = socket;
  }

  /** Opens a connection to host:port; rejects when the connect fails. */
  static async open(host: string, port: number): Promise<WireConn> {
    const decoder = new FrameDecoder();
    let conn: WireConn | null = null;
    const socket = await Bun.connect<undefined>({
      hostname: host,
      port,
      socket: {
        data(_s, chunk) {
          decoder.push(chunk);
          try {
            for (let f = decoder.next(); f !== null; f = decoder.next()) conn?.deliver(decodeResponse(f.type, f.body));
          } catch (err) {
            conn?.fail(err instanceof Error ? err : new Error(String(err)));
          }
        },
        drain() {
          conn?.flush();
        },
        close() {
          conn?.fail(new Error("connection closed by the broker"));
        },
        error(_s, err) {
          conn?.fail(err);
        },
      },
    });
    socket.setNoDelay(true);
    conn = new WireConn(socket);
    return conn;
  }

  /** Sends a request (coalesced with the others of this tick) and resolves with its response, Error frames included. */
  send(request: Outgoing): Promise<Response> {
    if (this.failure !== null) return Promise.resolve(connectionError(this.failure));
    const requestId = this.nextRequestId;
    this.nextRequestId = (this.nextRequestId + 1) >>> 0 || 1;
    this.writer.request({ ...request, requestId } as Request);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
    return new Promise((resolve) => this.waiters.set(requestId, resolve));
  }

  /** True once the socket failed or was closed: every later send answers an Error at once. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** Requests sent and not answered yet. */
  get inFlight(): number {
    return this.waiters.size;
  }

  close(): void {
    this.failure ??= new Error("connection closed by the bench");
    this.socket.end();
  }

  private deliver(response: Response): void {
    const waiter = this.waiters.get(response.requestId);
    if (waiter === undefined) return;
    this.waiters.delete(response.requestId);
    waiter(response);
  }

  private fail(err: Error): void {
    if (this.failure === null) this.failure = err;
    const failed = connectionError(err);
    const waiters = [...this.waiters.values()];
    this.waiters.clear();
    for (const w of waiters) w(failed);
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.writer.length > 0) this.backlog.push(this.writer.take());
    while (this.backlog.length > 0) {
      const head = this.backlog[0]!;
      const wrote = this.socket.write(head);
      if (wrote < 0) return;
      if (wrote < head.byteLength) {
        // The socket took part of it; the rest goes out on drain.
        this.backlog[0] = head.subarray(wrote);
        return;
      }
      this.backlog.shift();
    }
  }
}

/** A lost connection as an Error response with code -1 (no table code), so callers handle one shape. */
function connectionError(err: Error): Response {
  return { kind: "Error", requestId: 0, code: -1, retryAfterMs: 0, field: "", message: err.message };
}
