// The deadlines of one connection on one timer: idle (nothing received and nothing outstanding),
// frame (a frame begun and not finished) and auth (no successful Hello yet). Decides only which
// deadline passed; the TCP server says what to send and closes. Bun's socket.timeout ticks in
// coarse steps (a 2 s timeout fired after 4 s), so this keeps its own ms timer, on the broker's
// clock's monotonic timeline (a wall-clock step must not close or keep connections).

import { DueTimer, systemClock, type Clock } from "../clock.ts";

export type DeadlineKind = "idle" | "frame" | "auth";

export interface DeadlineOptions {
  /** Nothing received and no request outstanding this long closes the connection. */
  idleMs: number;
  /** A frame begun must be complete this long after its first byte; null = no limit. */
  frameMs: number | null;
  /** A connection must authenticate this long after it opened; null = not required. */
  authMs: number | null;
  /** True while a request of the connection is being worked on: waiting for it is not idleness. */
  waiting(): boolean;
  expired(kind: DeadlineKind): void;
  /** The broker's clock: deadlines are measured on its monotonic time and fire on its timers. */
  clock: Clock;
}

export class ConnDeadlines {
  private readonly options: DeadlineOptions;
  private readonly now: () => number;
  private lastActivityMs: number;
  /**
   * The same instant on real time (performance.now): shutdown's "quiet a moment" waits for bytes
   * still on their way over the network, which the broker's clock does not govern.
   */
  private lastActivityRealMs = performance.now();
  /** On the system clock both times are one reading (activity() is on every read's path). */
  private readonly onRealTime: boolean;
  private frameStartedMs: number | null = null;
  /** When the server stopped reading the connection; the frame clock does not run meanwhile. */
  private pausedAtMs: number | null = null;
  private authDueMs: number | null;
  private readonly timer: DueTimer;
  private stopped = false;

  constructor(options: DeadlineOptions) {
    this.options = options;
    const clock = options.clock;
    this.onRealTime = clock === systemClock;
    this.now = () => clock.monotonicMs();
    this.timer = new DueTimer({ clock, timeline: "monotonic", fire: () => this.fire() });
    this.lastActivityMs = this.now();
    this.authDueMs = options.authMs === null ? null : this.lastActivityMs + options.authMs;
  }

  /** Starts the clock (once the connection it asks waiting() about exists). */
  start(): void {
    this.arm();
  }

  /** Milliseconds since bytes last arrived or a request last settled (shutdown waits for a quiet moment). */
  quietMs(): number {
    return performance.now() - this.lastActivityRealMs;
  }

  /** Bytes arrived or a request settled. Only moves the idle deadline later, so the timer is left as it is. */
  activity(): void {
    const nowMs = this.now();
    this.lastActivityMs = nowMs;
    this.lastActivityRealMs = this.onRealTime ? nowMs : performance.now();
  }

  /** The decoder holds part of a frame; the clock starts once per frame. */
  frameStarted(): void {
    if (this.options.frameMs === null || this.frameStartedMs !== null) return;
    this.frameStartedMs = this.now();
    this.arm();
  }

  /** A whole frame arrived: the next one gets its own deadline. */
  frameDone(): void {
    this.frameStartedMs = null;
  }

  /**
   * The server stopped (true) or resumed (false) reading the connection. A frame cannot be
   * finished while it is not read, so the time paused is not counted against it.
   */
  readingPaused(paused: boolean): void {
    if (paused) {
      this.pausedAtMs ??= this.now();
      return;
    }
    if (this.pausedAtMs === null) return;
    const pausedMs = this.now() - this.pausedAtMs;
    this.pausedAtMs = null;
    if (this.frameStartedMs === null) return;
    this.frameStartedMs += pausedMs;
    this.arm();
  }

  /** A Hello succeeded: the auth deadline no longer applies. */
  authenticated(): void {
    this.authDueMs = null;
  }

  /** The connection is gone: no timer may keep it alive. */
  stop(): void {
    this.stopped = true;
    this.timer.cancel();
  }

  /** The earliest deadline still pending, in the clock's ms. */
  private nextDueMs(): number {
    let due = this.options.waiting() ? this.now() + this.options.idleMs : this.lastActivityMs + this.options.idleMs;
    if (this.frameStartedMs !== null && this.pausedAtMs === null) due = Math.min(due, this.frameStartedMs + this.options.frameMs!);
    if (this.authDueMs !== null) due = Math.min(due, this.authDueMs);
    return due;
  }

  private arm(): void {
    if (!this.stopped) this.timer.wakeAt(this.nextDueMs());
  }

  private fire(): void {
    if (this.stopped) return;
    const now = this.now();
    let kind: DeadlineKind | null = null;
    if (this.authDueMs !== null && now >= this.authDueMs) kind = "auth";
    else if (this.frameStartedMs !== null && this.pausedAtMs === null && now >= this.frameStartedMs + this.options.frameMs!) kind = "frame";
    else if (!this.options.waiting() && now >= this.lastActivityMs + this.options.idleMs) kind = "idle";
    if (kind === null) {
      this.arm();
      return;
    }
    this.stop();
    this.options.expired(kind);
  }
}
