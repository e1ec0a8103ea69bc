// Hostile client process for the hostile-clients scenarios: opens <connections> sockets to the
// broker and writes one kind of frame as fast as each socket takes it, reading (and discarding)
// the replies or never reading at all. A separate process, so that the flood's own CPU use does
// not delay the measuring client's timers. Exits by itself after 120 s (no orphans).
// Usage: bun hostile-child.ts <port> <kind> <connections> <writeMs> <read 0|1>
// Prints "WRITTEN {json}" after <writeMs>; keeps the sockets open until stdin gets a line (or
// closes), then ends them and prints "CLOSED {json}".

import type { Socket } from "bun";
import { encodeRequest } from "../../../src/protocol/frame-writer.ts";

export const FLOOD_KINDS = ["ping", "unknown", "invalid", "oversized"] as const;
export type FloodKind = (typeof FLOOD_KINDS)[number];

/** One frame of each kind; "oversized" announces 64 MiB, which the broker refuses and closes. */
function frameOf(kind: FloodKind): Uint8Array {
  switch (kind) {
    case "ping":
      return encodeRequest({ kind: "Ping", requestId: 1 });
    case "unknown":
      // Type 0x7E is no message; the body is a request id, so the error names it.
      return new Uint8Array([0, 0, 0, 5, 0x7e, 0, 0, 0, 1]);
    case "invalid":
      // A Ping with two bytes it must not have: InvalidField "body: 2 unexpected trailing bytes".
      return new Uint8Array([0, 0, 0, 7, 0x12, 0, 0, 0, 1, 9, 9]);
    case "oversized":
      return new Uint8Array([0x04, 0, 0, 0, 0x12]);
  }
}

interface Counts {
  connections: number;
  bytesWritten: number;
  bytesRead: number;
  /** Connections the broker closed (for "oversized", each is reopened). */
  closedByBroker: number;
}

async function main(): Promise<void> {
  const [portArg, kindArg, connArg, writeArg, readArg] = process.argv.slice(2);
  const kind = FLOOD_KINDS.find((k) => k === kindArg);
  if (!portArg || !kind || !connArg || !writeArg || !readArg) throw new Error("usage: hostile-child.ts <port> <kind> <connections> <writeMs> <read 0|1>");
  setTimeout(() => process.exit(3), 120_000).unref();
  const port = Number(portArg);
  const read = readArg === "1";
  const one = frameOf(kind);
  // 64 KiB of back-to-back frames per write: a client pipelining as fast as it can.
  const copies = kind === "oversized" ? 1 : Math.floor(65_536 / one.length);
  const block = new Uint8Array(one.length * copies);
  for (let i = 0; i < copies; i++) block.set(one, i * one.length);
  const counts: Counts = { connections: 0, bytesWritten: 0, bytesRead: 0, closedByBroker: 0 };
  let writing = true;
  let ending = false;
  const sockets = new Set<Socket<{ pending: Uint8Array }>>();

  const pumpWrites = (socket: Socket<{ pending: Uint8Array }>): void => {
    // Bounded per call (16 blocks), then drain or the next turn brings more.
    for (let i = 0; i < 16 && writing; i++) {
      if (socket.data.pending.length === 0) socket.data.pending = block;
      const n = socket.write(socket.data.pending);
      if (n > 0) {
        counts.bytesWritten += n;
        socket.data.pending = socket.data.pending.subarray(n);
      }
      if (socket.data.pending.length > 0) return;
    }
    if (writing) setImmediate(() => sockets.has(socket) && pumpWrites(socket));
  };

  const open = async (): Promise<void> => {
    const socket = await Bun.connect<{ pending: Uint8Array }>({
      hostname: "127.0.0.1",
      port,
      data: { pending: new Uint8Array(0) },
      socket: {
        data(_s, chunk) {
          counts.bytesRead += chunk.length;
        },
        drain(s) {
          pumpWrites(s);
        },
        close(s) {
          sockets.delete(s);
          if (ending) return;
          counts.closedByBroker++;
          if (kind === "oversized" && writing) void open().catch(() => undefined);
        },
        error() {},
      },
    });
    counts.connections++;
    sockets.add(socket);
    if (!read) socket.pause();
    pumpWrites(socket);
  };

  for (let i = 0; i < Number(connArg); i++) await open();
  await Bun.sleep(Number(writeArg));
  writing = false;
  process.stdout.write(`WRITTEN ${JSON.stringify({ ...counts, open: sockets.size })}\n`);
  // Held open until the parent says so: it measures the broker meanwhile.
  for await (const _line of console) break;
  ending = true;
  for (const socket of sockets) socket.end();
  await Bun.sleep(200);
  process.stdout.write(`CLOSED ${JSON.stringify(counts)}\n`);
  process.exit(0);
}

if (import.meta.main) await main();
