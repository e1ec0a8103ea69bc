// The state the TCP server keeps per connection, shared by its read loop (read-loop.ts) and its
// request runner and lifecycle (tcp-server.ts). Types only.

import type { Socket } from "bun";
import type { FrameDecoder } from "../protocol/frame-decoder.ts";
import type { Request } from "../protocol/messages.ts";
import type { ConnDeadlines } from "./conn-deadlines.ts";
import type { Session } from "./dispatch.ts";
import type { Outbound } from "./outbound.ts";

export interface Conn {
  session: Session;
  decoder: FrameDecoder;
  out: Outbound;
  abort: AbortController;
  /** Requests still being worked on; a connection waiting for answers is not idle. */
  busy: number;
  /** Bytes of the frames of those requests: pending work, bounded in bytes. */
  busyBytes: number;
  /** Closing after the current writes (or closed): nothing more is read or dispatched. */
  closing: boolean;
  /** Hellos refused so far; past auth.max_failures_per_connection the connection is closed. */
  authFailures: number;
  /** socket.pause() is in effect: over budget, yielding the rest of a turn, or waiting for the read gate. */
  readPaused: boolean;
  /** A pump is scheduled for a later turn; at most one per connection. */
  pumpQueued: boolean;
  /** Heavy requests (replies with whole tasks) being worked on. */
  heavyPending: number;
  /** A decoded heavy request waiting for a heavy slot; dispatched before any later frame. */
  held: Request | null;
  deadlines: ConnDeadlines;
  /** What broker.max_connections_per_address counts this connection under (null = not counted). */
  addressKey: string | null;
}

export type BrokerSocket = Socket<Conn>;
