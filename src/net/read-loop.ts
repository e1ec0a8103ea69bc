// The read side of every TCP connection: bytes in, requests handed to dispatch, within what one
// connection may make the broker hold (replies queued, requests being worked on) and a fair share
// of each event-loop turn, and under the broker-wide bound on unparsed bytes (read-gate.ts). A
// connection past any of these is paused: the kernel's window then pushes back on the client.

import type { BrokerLog } from "../broker/broker-types.ts";
import { toBrokerError, type ErrorCodeValue } from "../protocol/errors.ts";
import type { Frame } from "../protocol/frame-decoder.ts";
import type { Request } from "../protocol/messages.ts";
import { decodeRequest } from "../protocol/request-codec.ts";
import type { BrokerSocket, Conn } from "./conn.ts";
import { ROUTES } from "./dispatch.ts";
import { ReadGate } from "./read-gate.ts";

/**
 * Ordered replies one connection may have outstanding before the broker stops reading it:
 * enough to keep group commits full for a pipelining worker (256 over 64 measured +14% on the
 * drain workload: bigger groups, fewer fsyncs), and small: replies carrying whole tasks are
 * bounded separately by MAX_HEAVY_PENDING.
 */
const MAX_PENDING_REPLIES = 256;
/** Requests whose replies carry whole tasks that one connection may have outstanding. */
const MAX_HEAVY_PENDING = 4;
/**
 * Bytes of requests one connection may have being worked on (submits waiting for their group
 * commit, mostly) before it is not read: 256 requests of up to 16 MiB would be 4 GiB. One
 * larger request is still taken when nothing else is pending.
 */
const MAX_BUSY_REQUEST_BYTES = 4 * 1024 * 1024;
/**
 * Frames, and bytes of frames, one connection may have handled per event-loop turn before the
 * others get theirs: a client pipelining cheap or invalid frames as fast as it can must not hold
 * the loop (one read can carry 58,000 Pings; six such clients took a healthy Ping from 0.3 ms to
 * 5 s before this bound).
 */
const TURN_FRAMES = 64;
const TURN_BYTES = 256 * 1024;
/**
 * What an undecodable frame counts towards TURN_FRAMES: its error reply (an error object, a
 * message naming the value, a metric) costs several Pings, and six floods of them held a healthy
 * client's p99 at 50 ms when they counted as one.
 */
const BAD_FRAME_WEIGHT = 4;
/**
 * Bytes received and not yet parsed, over all connections, past which a paused connection is not
 * read again until others are served. Bun reads up to 512 KiB at a time, so 1,000 pipelining
 * clients could otherwise hold 500 MiB of unparsed requests. 1,000 non-readers peaked at 415-538
 * MiB RSS with 32 MiB here, 277-365 MiB with 16 MiB (3 runs each).
 */
const MAX_UNPARSED_BYTES = 16 * 1024 * 1024;
const BUN_READ_BYTES = 512 * 1024;
/** Type byte and length prefix: what a frame costs beyond its body. */
const FRAME_OVERHEAD_BYTES = 5;

export interface ReadLoopOptions {
  log: BrokerLog;
  /** Runs one decoded request; `frameBytes` counts against MAX_BUSY_REQUEST_BYTES while it is worked on. */
  dispatch(socket: BrokerSocket, request: Request, frameBytes: number): void;
  /** The frame could not be decoded as a request: answer it (and close if the error says so). */
  badRequest(socket: BrokerSocket, err: unknown, frameType: number): void;
  /** Framing is lost: send the error and close. */
  refuse(socket: BrokerSocket, code: ErrorCodeValue, message: string): void;
}

export interface ReadLoop {
  /** A new connection: read it now, or once the gate lets it. */
  opened(socket: BrokerSocket): void;
  /** Bytes arrived. */
  received(socket: BrokerSocket, chunk: Uint8Array): void;
  /** A reply went out or the outbound queue drained: a paused connection may be read again. */
  unblock(socket: BrokerSocket): void;
  /** Frees the bytes a connection sent that nobody will parse: it is closing or gone. */
  dropInput(socket: BrokerSocket): void;
}

function isHeavy(request: Request): boolean {
  return ROUTES[request.kind].heavy === true;
}

/** Past any bound a connection's frames stay in its decoder and its socket is not read. */
function overloaded(conn: Conn): boolean {
  return (
    conn.out.overCap() ||
    conn.out.pendingReplies >= MAX_PENDING_REPLIES ||
    conn.busyBytes >= MAX_BUSY_REQUEST_BYTES ||
    (conn.held !== null && conn.heavyPending >= MAX_HEAVY_PENDING)
  );
}

function pauseReading(socket: BrokerSocket): void {
  const conn = socket.data;
  if (conn.readPaused) return;
  conn.readPaused = true;
  socket.pause();
  conn.deadlines.readingPaused(true);
}

function resumeReading(socket: BrokerSocket): void {
  const conn = socket.data;
  if (!conn.readPaused || conn.closing) return;
  conn.readPaused = false;
  socket.resume();
  conn.deadlines.readingPaused(false);
}

export function createReadLoop(options: ReadLoopOptions): ReadLoop {
  const gate = new ReadGate<BrokerSocket>({
    maxBytes: MAX_UNPARSED_BYTES,
    readBytes: BUN_READ_BYTES,
    resume: resumeReading,
    gone: (socket) => socket.data.closing,
  });

  /** Runs pump() on a later turn, once however often it is asked for. */
  function schedulePump(socket: BrokerSocket): void {
    const conn = socket.data;
    if (conn.pumpQueued || conn.closing) return;
    conn.pumpQueued = true;
    setImmediate(() => {
      conn.pumpQueued = false;
      pump(socket);
    });
  }

  function pump(socket: BrokerSocket): void {
    const decoder = socket.data.decoder;
    const before = decoder.bufferedBytes;
    pumpFrames(socket);
    gate.add(decoder.bufferedBytes - before);
  }

  /**
   * Runs the buffered frames of a connection through dispatch, one at a time, until none is left,
   * the connection is over a bound (checked per frame: one read can hold thousands), or it has had
   * its share of this turn. Whenever frames are left unread the socket is paused, so the decoder
   * holds no more than the reads it was given.
   */
  function pumpFrames(socket: BrokerSocket): void {
    const conn = socket.data;
    let frames = 0;
    let bytes = 0;
    while (!conn.closing) {
      if (overloaded(conn)) {
        // unblock() goes on once a reply goes out or the outbound queue drains.
        pauseReading(socket);
        conn.decoder.compact();
        return;
      }
      if (frames >= TURN_FRAMES || bytes >= TURN_BYTES) {
        pauseReading(socket);
        conn.decoder.compact();
        schedulePump(socket);
        return;
      }
      if (conn.held !== null) {
        const held = conn.held;
        conn.held = null;
        frames++;
        options.dispatch(socket, held, 0);
        continue;
      }
      let frame: Frame | null;
      try {
        frame = conn.decoder.next();
      } catch (err) {
        const e = toBrokerError(err);
        options.log.debug("framing lost; closing", { session: conn.session.id, code: e.code, err: e.message });
        options.refuse(socket, e.code, e.message);
        return;
      }
      if (frame === null) {
        // A frame in progress is always read to its end: its bytes count against the gate, and
        // holding it back could leave every reader waiting on frames that cannot finish.
        if (conn.decoder.bufferedBytes > 0) {
          conn.deadlines.frameStarted();
          resumeReading(socket);
        } else if (conn.readPaused && gate.mayRead(socket)) {
          resumeReading(socket);
        }
        return;
      }
      conn.deadlines.frameDone();
      const frameBytes = frame.body.byteLength + FRAME_OVERHEAD_BYTES;
      frames++;
      bytes += frameBytes;
      let request: Request;
      try {
        request = decodeRequest(frame.type, frame.body);
      } catch (err) {
        // Answered in order like any request: error replies count against the same bounds.
        frames += BAD_FRAME_WEIGHT - 1;
        options.badRequest(socket, err, frame.type);
        continue;
      }
      if (isHeavy(request) && conn.heavyPending >= MAX_HEAVY_PENDING) {
        conn.held = request;
        continue;
      }
      options.dispatch(socket, request, frameBytes);
    }
  }

  return {
    opened(socket) {
      // Under a flood of unparsed bytes a new client waits its turn like the others.
      if (!gate.mayRead(socket)) pauseReading(socket);
    },
    received(socket, chunk) {
      const decoder = socket.data.decoder;
      const before = decoder.bufferedBytes;
      decoder.push(chunk);
      gate.add(decoder.bufferedBytes - before);
      pump(socket);
    },
    unblock(socket) {
      const conn = socket.data;
      if (conn.readPaused && !conn.closing && !overloaded(conn)) schedulePump(socket);
    },
    dropInput(socket) {
      const conn = socket.data;
      gate.add(-conn.decoder.bufferedBytes);
      gate.forget(socket);
      conn.decoder.discard();
    },
  };
}
