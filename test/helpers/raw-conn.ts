// A test client that speaks raw frames over a real socket: send exact bytes or encoded requests,
// read decoded responses. Frames are split here by its own few lines, independent of the
// broker's decoder, so tests do not check the codec against itself.

import type { Socket } from "bun";
import { encodeRequest } from "../../src/protocol/frame-writer.ts";
import type { Request, Response } from "../../src/protocol/messages.ts";
import { decodeResponse } from "../../src/protocol/response-codec.ts";

/** A request without its id (distributes over the union, unlike Omit). */
export type RequestInput = Request extends infer R ? (R extends Request ? Omit<R, "requestId"> : never) : never;

export class RawConn {
  private buffer = new Uint8Array(0);
  private frames: Response[] = [];
  private waiting: (() => void)[] = [];
  closed = false;
  private nextId = 1;

  private constructor(private socket: Socket<undefined> | null) {}

  static async connect(port: number, host = "127.0.0.1"): Promise<RawConn> {
    const conn = new RawConn(null);
    conn.socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data: (_s, chunk) => conn.onData(chunk),
        close: () => {
          conn.closed = true;
          conn.wake();
        },
        error: () => {},
      },
    });
    return conn;
  }

  /** Sends bytes as they are. */
  sendBytes(bytes: Uint8Array): void {
    this.socket!.write(bytes);
  }

  /** Sends a request (its requestId taken as given, or the next one) and returns the id. */
  send(request: RequestInput & { requestId?: number }): number {
    const requestId = request.requestId ?? this.nextId++;
    this.sendBytes(encodeRequest({ ...request, requestId } as Request));
    return requestId;
  }

  /** Sends a request and waits for the response with its id. */
  async call(request: RequestInput, timeoutMs = 5000): Promise<Response> {
    const id = this.send(request);
    return this.waitFor((r) => r.requestId === id, timeoutMs);
  }

  /** The next response (any), in arrival order. */
  async next(timeoutMs = 5000): Promise<Response> {
    return this.waitFor(() => true, timeoutMs);
  }

  async waitFor(match: (r: Response) => boolean, timeoutMs = 5000): Promise<Response> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.frames.findIndex(match);
      if (at >= 0) return this.frames.splice(at, 1)[0]!;
      if (this.closed) throw new Error("connection closed before the expected response");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching response within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves once the broker has closed the connection. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`connection still open after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.socket?.end();
  }

  private onData(chunk: Uint8Array): void {
    const merged = new Uint8Array(this.buffer.length + chunk.length);
    merged.set(this.buffer);
    merged.set(chunk, this.buffer.length);
    let at = 0;
    while (merged.length - at >= 5) {
      const view = new DataView(merged.buffer, merged.byteOffset + at);
      const length = view.getUint32(0);
      if (merged.length - at < 4 + length) break;
      const type = merged[at + 4]!;
      this.frames.push(decodeResponse(type, merged.slice(at + 5, at + 4 + length)));
      at += 4 + length;
    }
    this.buffer = merged.slice(at);
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const fn of waiting) fn();
  }
}
