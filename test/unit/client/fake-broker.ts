// A scripted stand-in for the broker, for client unit tests: Bun.listen on 127.0.0.1 port 0,
// speaks frames with the protocol codec, and answers each request with whatever the test's
// handler returns (null = no answer yet). Lets tests drop connections at exact moments.

import type { Socket, TCPSocketListener } from "bun";
import { FrameDecoder } from "../../../src/protocol/frame-decoder.ts";
import { encodeResponse } from "../../../src/protocol/frame-writer.ts";
import type { Request, Response } from "../../../src/protocol/messages.ts";
import { decodeRequest } from "../../../src/protocol/request-codec.ts";

export interface FakeConn {
  /** 1-based, in accept order. */
  readonly index: number;
  readonly requests: Request[];
  reply(m: Response): void;
  drop(): void;
}

type Handler = (req: Request, conn: FakeConn) => Response | null;

interface ConnData {
  conn: FakeConn;
  decoder: FrameDecoder;
  /** Bytes the socket did not take yet (a write may be partial); sent on drain. */
  unsent: Uint8Array | null;
}

/** Writes `bytes` after anything still unsent, keeping what the socket does not take. */
function write(socket: Socket<ConnData>, bytes: Uint8Array): void {
  const data = socket.data;
  const all = data.unsent === null ? bytes : Buffer.concat([data.unsent, bytes]);
  const taken = socket.write(all);
  data.unsent = taken < all.byteLength && taken >= 0 ? all.subarray(taken) : null;
}

export const HELLO_OK = { kind: "HelloOk", version: 1, serverVersion: "fake", maxFrameBytes: 16 << 20, maxBatchClaim: 10, heartbeatIntervalMs: 15_000, defaultLeaseMs: 30_000 } as const;

/** Answers Hello and Ping; everything else goes to `handler`. */
export class FakeBroker {
  handler: Handler = () => null;
  readonly conns: FakeConn[] = [];
  /** Every request on every connection, in arrival order. */
  readonly requests: Request[] = [];
  /** Reads the server made (data events), to see writes coalesced. */
  chunks = 0;
  private listener: TCPSocketListener<ConnData> | null = null;
  private readonly sockets = new Set<Socket<ConnData>>();
  port = 0;

  static async start(handler?: Handler): Promise<FakeBroker> {
    const fake = new FakeBroker();
    if (handler) fake.handler = handler;
    fake.listen(0);
    return fake;
  }

  listen(port: number): void {
    this.listener = Bun.listen<ConnData>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (socket) => {
          this.sockets.add(socket);
          const conn: FakeConn = {
            index: this.conns.length + 1,
            requests: [],
            reply: (m) => write(socket, encodeResponse(m)),
            drop: () => socket.terminate(),
          };
          this.conns.push(conn);
          socket.data = { conn, decoder: new FrameDecoder(), unsent: null };
        },
        data: (socket, chunk) => {
          const { conn, decoder } = socket.data;
          this.chunks++;
          decoder.push(chunk);
          for (const frame of decoder) {
            const req = decodeRequest(frame.type, frame.body);
            conn.requests.push(req);
            this.requests.push(req);
            let answer =
              req.kind === "Hello" ? { ...HELLO_OK, requestId: req.requestId } : req.kind === "Ping" ? { kind: "Pong" as const, requestId: req.requestId } : this.handler(req, conn);
            // Unless the handler knows them, EnableNotices and Subscribe are answered as a broker
            // that predates them would (so a worker falls back to heartbeats and claims).
            if (answer === null && (req.kind === "EnableNotices" || req.kind === "Subscribe")) {
              const type = req.kind === "EnableNotices" ? "0x14" : "0x15";
              answer = { kind: "Error", requestId: req.requestId, code: 3, retryAfterMs: 0, field: "", message: `message type ${type} (unknown) is not a request` };
            }
            if (answer !== null) conn.reply(answer);
          }
        },
        drain: (socket) => {
          const unsent = socket.data.unsent;
          socket.data.unsent = null;
          if (unsent !== null) write(socket, unsent);
        },
        close: (socket) => {
          this.sockets.delete(socket);
        },
      },
    });
    this.port = this.listener.port;
  }

  get url(): string {
    return `tq://127.0.0.1:${this.port}`;
  }

  /** Stops listening and drops every connection. */
  stop(): void {
    this.listener?.stop(true);
    this.listener = null;
    for (const s of this.sockets) s.terminate();
    this.sockets.clear();
  }

  /** The requests of one kind seen so far. */
  seen<K extends Request["kind"]>(kind: K): Extract<Request, { kind: K }>[] {
    return this.requests.filter((r): r is Extract<Request, { kind: K }> => r.kind === kind);
  }
}
