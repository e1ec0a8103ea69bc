// Server-Sent Events for the dashboard (GET /api/v1/events): one overview (stats, queues with their
// rates, workers, the latest chart slot) computed once a second for every open stream, sent when it
// changed, with a comment line at least every 15 s so that proxies keep the stream open. Bounded
// streams; the timer runs only while one is open. Reads the broker, changes nothing.

import type { Broker, BrokerLog } from "../broker/broker.ts";
import type { Clock, TimerHandle } from "../clock.ts";
import { BrokerError, ErrorCode } from "../protocol/errors.ts";
import { queuesJson, statsJson } from "./admin-json.ts";
import { workerStatus } from "../workers/registry.ts";

/** Open event streams at once; more are refused (TooManyConnections) rather than grow without bound. */
export const MAX_EVENT_STREAMS = 64;
const PUSH_EVERY_MS = 1000;
const KEEPALIVE_MS = 15_000;
/** Unread messages a stream may hold before it is closed: a client that stopped reading must not pile up memory. */
const MAX_UNREAD = 30;
const encoder = new TextEncoder();

/** The dashboard's overview: what every page shows at the top, and the queue table. */
export async function overviewJson(broker: Broker, nowMs: number): Promise<Record<string, unknown>> {
  const stats = await broker.stats();
  const queues = queuesJson(stats, nowMs).map((q) => {
    const r = broker.activity.queueRates(String(q.name));
    return { ...q, completed_per_min: round(r.completedPerMin), failed_per_min: round(r.failedPerMin), failure_rate: r.failureRate === null ? null : round(r.failureRate) };
  });
  const workers = broker.workers.list();
  const series = broker.activity.series();
  const last = series[series.length - 1]!;
  return {
    ...statsJson(stats, nowMs),
    queues,
    worker_states: {
      alive: workers.filter((w) => workerStatus(w) !== "dead").length,
      dead: workers.filter((w) => workerStatus(w) === "dead").length,
    },
    activity: { at_ms: last.atMs, submitted: last.submitted, completed: last.completed, failed: last.failed, pending: last.pending, scheduled: last.scheduled, in_progress: last.inProgress },
  };
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

export class LiveEvents {
  private readonly streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  private timer: TimerHandle | null = null;
  private lastData = "";
  private lastWriteMs = 0;
  private stopped = false;

  constructor(
    private readonly broker: Broker,
    private readonly clock: Clock,
    private readonly log: BrokerLog,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  /** A new stream: the current overview at once, then every change. */
  open(signal: AbortSignal): Response {
    if (this.stopped) throw new BrokerError(ErrorCode.ShuttingDown, "the broker is shutting down", { retryAfterMs: 1000 });
    if (this.streams.size >= MAX_EVENT_STREAMS) {
      throw new BrokerError(ErrorCode.TooManyConnections, `${MAX_EVENT_STREAMS} event streams are open (the limit); close a dashboard tab or retry later`, { retryAfterMs: 5000 });
    }
    let mine: ReadableStreamDefaultController<Uint8Array> | null = null;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        mine = controller;
        this.streams.add(controller);
        controller.enqueue(encoder.encode("retry: 2000\n\n"));
        void this.push(controller);
        this.arm();
      },
      cancel: () => {
        if (mine !== null) this.streams.delete(mine);
      },
    });
    signal.addEventListener("abort", () => this.close(mine), { once: true });
    return new Response(body, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" },
    });
  }

  /** Ends every stream (shutdown). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    for (const c of [...this.streams]) this.close(c);
  }

  private close(controller: ReadableStreamDefaultController<Uint8Array> | null): void {
    if (controller === null || !this.streams.delete(controller)) return;
    try {
      controller.close();
    } catch {
      // Already closed by the client going away.
    }
  }

  private arm(): void {
    if (this.timer !== null || this.streams.size === 0 || this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      void this.push(null).finally(() => this.arm());
    }, PUSH_EVERY_MS);
  }

  /** Sends the overview to `only` (a new stream), or to every stream when it changed. */
  private async push(only: ReadableStreamDefaultController<Uint8Array> | null): Promise<void> {
    let data: string;
    try {
      data = JSON.stringify(await overviewJson(this.broker, this.clock.now()));
    } catch (err) {
      this.log.warn("event stream overview failed", { err });
      return;
    }
    const nowMs = this.clock.monotonicMs();
    let frame: string | null = `event: overview\ndata: ${data}\n\n`;
    if (only === null) {
      if (data === this.lastData) frame = nowMs - this.lastWriteMs >= KEEPALIVE_MS ? ": keepalive\n\n" : null;
      this.lastData = data;
    }
    if (frame === null) return;
    if (only === null) this.lastWriteMs = nowMs;
    const bytes = encoder.encode(frame);
    for (const c of only === null ? [...this.streams] : [only]) {
      if ((c.desiredSize ?? 0) < -MAX_UNREAD) {
        this.close(c);
        continue;
      }
      try {
        c.enqueue(bytes);
      } catch {
        this.streams.delete(c);
      }
    }
  }
}
