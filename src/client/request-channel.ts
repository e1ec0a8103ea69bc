// RequestChannel: one logical link to the broker over successive connections. Says Hello on
// each, pipelines requests matched by request id, holds requests while disconnected (bounded by
// their timeout), reconnects with backoff, and decides what a drop means for each request:
// resend the idempotent ones, fail the others as "outcome unknown". With several broker URLs it
// moves to the next broker (round robin) whenever one is gone: the connection refused or closed,
// or the broker answering ShuttingDown. No task semantics here.

import { EventEmitter } from "node:events";
import { BrokerError, ErrorCode } from "../protocol/errors.ts";
import { PROTOCOL_VERSION } from "../protocol/limits.ts";
import type { HelloOkResponse, Request, Response } from "../protocol/messages.ts";
import type { Endpoint, ResolvedClientOptions } from "./client-options.ts";
import { Connection } from "./connection.ts";
import { ClientClosedError, ConnectionError, TimeoutError, TqError, errorForCode, errorFromResponse } from "./tq-error.ts";

/** A request before the channel gives it an id. */
export type RequestBody = Request extends infer R ? (R extends Request ? Omit<R, "requestId"> : never) : never;

export interface RequestOptions {
  /** Answer deadline, ms from now. Default the client's requestTimeoutMs. */
  timeoutMs?: number;
  /** Safe to send twice: resent after a reconnect instead of failing as "outcome unknown". */
  idempotent?: boolean;
  /** Part of a session's setup (see onSession): sent before the channel is ready. */
  setup?: boolean;
}

interface Pending {
  body: RequestBody;
  requestId: number;
  idempotent: boolean;
  setup: boolean;
  timer: ReturnType<typeof setTimeout>;
  resolve(m: Response): void;
  reject(e: Error): void;
}

type State = "idle" | "connecting" | "ready" | "closed";

/** With several brokers: how long a broker that answered ShuttingDown may take to close before the client leaves it. */
const DRAIN_WAIT_MS = 5000;


/**
 * Events: "connected" (HelloOk), "disconnected" (Error | null), "notice" (a TaskCancelled the
 * broker pushed), "delivery" (a Delivery: tasks pushed to a subscription of this connection).
 */
export class RequestChannel extends EventEmitter {
  readonly options: ResolvedClientOptions;
  private state: State = "idle";
  private conn: Connection | null = null;
  private nextRequestId = 1;
  private readonly waiting: Pending[] = [];
  private readonly inFlight = new Map<number, Pending>();
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private keepAliveTimer: ReturnType<typeof setTimeout> | null = null;
  /** performance.now() of the last request sent, for the keepalive. */
  private lastSendMs = 0;
  private failedAttempts = 0;
  private lastError: Error | null = null;
  /** Index in options.endpoints of the broker of the current (or next) connection. */
  private endpointAt = 0;
  /** Connection attempts that failed since the last one that got ready (for reconnect: false with several brokers: one round). */
  private failedInRound = 0;
  /**
   * The broker of the current connection answered ShuttingDown (several brokers only): nothing more
   * is sent on it; requests wait for the connection to the next broker, which follows its close.
   */
  private draining = false;
  private readonly sessionHooks: Array<(hello: HelloOkResponse) => Promise<void>> = [];
  /** Reconnect after a drop even with nothing waiting (a worker must re-register and keep heartbeating). */
  keepConnected = false;
  /** The broker's HelloOk on the current (or last) connection. */
  hello: HelloOkResponse | null = null;

  constructor(options: ResolvedClientOptions) {
    super();
    this.options = options;
  }

  get isReady(): boolean {
    return this.state === "ready" && !this.draining;
  }

  /** The broker the current (or next) connection is to. */
  get endpoint(): Endpoint {
    return this.options.endpoints[this.endpointAt]!;
  }

  get isClosed(): boolean {
    return this.state === "closed";
  }

  /** Runs after every Hello, before queued requests go out; its requests must pass `setup: true`. */
  onSession(hook: (hello: HelloOkResponse) => Promise<void>): void {
    this.sessionHooks.push(hook);
  }

  /** Connects now instead of on the first request; resolves with the HelloOk. */
  async connect(): Promise<HelloOkResponse> {
    await this.request({ kind: "Ping" }, { idempotent: true });
    return this.hello!;
  }

  request(body: RequestBody, options: RequestOptions = {}): Promise<Response> {
    if (this.state === "closed") return Promise.reject(new ClientClosedError());
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    return new Promise<Response>((resolve, reject) => {
      const p: Pending = {
        body,
        requestId: 0,
        idempotent: options.idempotent ?? false,
        setup: options.setup ?? false,
        timer: setTimeout(() => this.expire(p, timeoutMs), timeoutMs),
        resolve,
        reject,
      };
      if ((this.state === "ready" && !this.draining) || (p.setup && this.state === "connecting" && this.conn !== null)) {
        this.transmit(p);
      } else {
        this.waiting.push(p);
        this.ensureConnecting();
      }
    });
  }

  /** Fails every request still waiting or in flight with ClientClosedError and closes the socket. */
  close(): Promise<void> {
    if (this.state === "closed") return Promise.resolve();
    this.state = "closed";
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.stopKeepAlive();
    const all = [...this.waiting, ...this.inFlight.values()];
    this.waiting.length = 0;
    this.inFlight.clear();
    for (const p of all) this.settle(p, new ClientClosedError());
    const conn = this.conn;
    if (conn === null || conn.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.once("disconnected", () => resolve());
      conn.end();
      // A broker that never closes its side must not hold close() open.
      setTimeout(() => conn.destroy(), 1000).unref?.();
    });
  }

  private transmit(p: Pending): void {
    const conn = this.conn;
    if (conn === null) {
      this.waiting.push(p);
      return;
    }
    p.requestId = this.takeRequestId();
    try {
      conn.send({ ...p.body, requestId: p.requestId } as Request);
    } catch (err) {
      this.settle(p, toTqError(err));
      return;
    }
    this.inFlight.set(p.requestId, p);
    this.lastSendMs = performance.now();
  }

  /**
   * While connected: after keepAliveMs with nothing sent, a Ping. One timer re-armed for the
   * remainder, not one per request. Unref'd: a quiet client must not keep the process alive.
   */
  private armKeepAlive(delayMs: number): void {
    const everyMs = this.options.keepAliveMs;
    if (everyMs === 0 || this.keepAliveTimer !== null) return;
    this.keepAliveTimer = setTimeout(() => {
      this.keepAliveTimer = null;
      if (this.state !== "ready") return;
      const quietMs = performance.now() - this.lastSendMs;
      if (quietMs >= everyMs && this.inFlight.size === 0) {
        this.request({ kind: "Ping" }, { idempotent: true }).catch(() => {});
        this.armKeepAlive(everyMs);
      } else {
        this.armKeepAlive(Math.max(everyMs - quietMs, 10));
      }
    }, delayMs);
    (this.keepAliveTimer as { unref?: () => void }).unref?.();
  }

  private stopKeepAlive(): void {
    if (this.keepAliveTimer !== null) clearTimeout(this.keepAliveTimer);
    this.keepAliveTimer = null;
  }

  private takeRequestId(): number {
    const id = this.nextRequestId;
    this.nextRequestId = id >= 0xffff_ffff ? 1 : id + 1;
    return id;
  }

  private settle(p: Pending, outcome: Response | Error): void {
    clearTimeout(p.timer);
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
  }

  private expire(p: Pending, timeoutMs: number): void {
    const at = this.waiting.indexOf(p);
    if (at !== -1) {
      this.waiting.splice(at, 1);
      const why = this.lastError ? ` (last error: ${this.lastError.message})` : "";
      p.reject(new ConnectionError(`no connection to ${this.options.endpoints.length > 1 ? `any of ${this.options.display}` : this.options.display} within ${timeoutMs} ms${why}; the request was not sent`, false, this.lastError ?? undefined));
      return;
    }
    if (this.inFlight.get(p.requestId) !== p) return;
    this.inFlight.delete(p.requestId);
    p.reject(
      new TimeoutError(ErrorCode.Timeout, `${p.body.kind}: no answer from ${this.endpoint.display} within ${timeoutMs} ms; it may or may not have taken effect`),
    );
  }

  private ensureConnecting(): void {
    if (this.state !== "idle" || this.reconnectTimer !== null) return;
    this.startConnect();
  }

  private startConnect(): void {
    this.state = "connecting";
    const at = this.endpoint;
    const conn = new Connection(
      { host: at.host, port: at.port, tls: { ...this.options.tls, enabled: at.tls }, connectTimeoutMs: this.options.connectTimeoutMs },
      { response: (m) => this.onResponse(m), closed: (err) => this.onClosed(conn, err) },
    );
    this.conn = conn;
    this.handshake(conn).catch((err: unknown) => this.onHandshakeFailed(conn, err));
  }

  private async handshake(conn: Connection): Promise<void> {
    await conn.opened;
    const hello = await this.request(
      { kind: "Hello", version: PROTOCOL_VERSION, apiKey: this.options.apiKey, clientName: this.options.clientName },
      { setup: true, timeoutMs: this.options.connectTimeoutMs },
    );
    if (hello.kind !== "HelloOk") throw unexpected("Hello", hello);
    if (this.conn !== conn) return;
    this.hello = hello;
    for (const hook of this.sessionHooks) await hook(hello);
    if (this.conn !== conn || this.state !== "connecting") return;
    this.state = "ready";
    this.failedAttempts = 0;
    this.failedInRound = 0;
    this.lastError = null;
    this.emit("connected", hello);
    this.armKeepAlive(this.options.keepAliveMs);
    const queued = this.waiting.splice(0);
    for (const p of queued) this.transmit(p);
  }

  private onHandshakeFailed(conn: Connection, err: unknown): void {
    if (this.conn !== conn || this.state === "closed") return;
    const error = err instanceof Error ? err : new Error(String(err));
    this.lastError = error;
    if (error instanceof TqError && error.code !== 0 && !error.retryable) {
      // Retrying with the same key, version or registration cannot help: fail what waits, and
      // try again only on the next request.
      const queued = this.waiting.splice(0);
      for (const p of queued) this.settle(p, error);
    }
    conn.destroy(error);
  }

  private onResponse(m: Response): void {
    // A notice answers no request (its requestId is 0): told by its type alone.
    if (m.kind === "TaskCancelled") {
      this.emit("notice", m);
      return;
    }
    if (m.kind === "Delivery") {
      this.emit("delivery", m);
      return;
    }
    const p = this.inFlight.get(m.requestId);
    if (p !== undefined && m.kind === "Error" && m.code === ErrorCode.ShuttingDown && !p.setup && this.options.endpoints.length > 1 && this.state !== "closed") {
      // Not carried out (that is what ShuttingDown says), so safe to send again whatever it was:
      // to the next broker, once this one has closed the connection. Sending nothing more here
      // lets it go quiet and close.
      this.inFlight.delete(m.requestId);
      this.lastError = errorFromResponse(m);
      this.waiting.push(p);
      if (!this.draining) {
        this.draining = true;
        // A stopping broker closes once its connections are quiet; one that does not is left.
        const conn = this.conn;
        const timer = setTimeout(() => {
          if (this.conn === conn && this.draining) conn?.destroy(new Error(`${this.endpoint.display} answered ShuttingDown and did not close the connection within ${DRAIN_WAIT_MS} ms`));
        }, DRAIN_WAIT_MS);
        (timer as { unref?: () => void }).unref?.();
      }
      return;
    }
    if (p === undefined) {
      // An Error frame for no request of ours (or one already timed out): the broker is about to
      // close (TooManyConnections, ShuttingDown...); remember why for the waiting requests.
      if (m.kind === "Error") this.lastError = errorFromResponse(m);
      return;
    }
    this.inFlight.delete(m.requestId);
    this.settle(p, m.kind === "Error" ? errorFromResponse(m) : m);
  }

  private onClosed(conn: Connection, err: Error | null): void {
    if (this.conn !== conn) return;
    this.conn = null;
    this.stopKeepAlive();
    this.draining = false;
    const wasReady = this.state === "ready";
    if (this.state !== "closed") this.state = "idle";
    if (err !== null) this.lastError = err;
    const sent = [...this.inFlight.values()].sort((a, b) => a.requestId - b.requestId);
    this.inFlight.clear();
    const resend: Pending[] = [];
    for (const p of sent) {
      if (p.idempotent && !p.setup && this.state !== "closed") resend.push(p);
      else {
        this.settle(p, new ConnectionError(
          `connection to ${this.endpoint.display} lost after ${p.body.kind} was sent${err ? ` (${err.message})` : ""}; it may or may not have taken effect`,
          true,
          err ?? undefined,
        ));
      }
    }
    this.waiting.unshift(...resend);
    this.emit("disconnected", err);
    if (this.state === "closed") return;
    if (!wasReady) {
      this.failedAttempts++;
      this.failedInRound++;
    }
    const several = this.options.endpoints.length > 1;
    // The broker is gone (or was never there): the next connection goes to the next one.
    if (several) this.endpointAt = (this.endpointAt + 1) % this.options.endpoints.length;
    if (this.options.reconnect === null) {
      // No backoff, but each broker of the list is tried once before giving up.
      if (several && this.failedInRound < this.options.endpoints.length && (this.waiting.length > 0 || this.keepConnected)) {
        this.startConnect();
        return;
      }
      this.failedInRound = 0;
      const queued = this.waiting.splice(0);
      const why = this.lastError ? `: ${this.lastError.message}` : "";
      for (const p of queued) this.settle(p, new ConnectionError(`cannot reach ${this.options.endpoints.length > 1 ? `any of ${this.options.display}` : this.options.display}${why}`, false, this.lastError ?? undefined));
      return;
    }
    if (this.waiting.length > 0 || this.keepConnected) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const r = this.options.reconnect!;
    // With several brokers the delay doubles once per round of them that all failed, so a gone
    // broker costs one short wait before the next is tried.
    const rounds = Math.floor(this.failedAttempts / this.options.endpoints.length);
    const base = Math.min(r.maxDelayMs, r.initialDelayMs * 2 ** Math.min(rounds, 20));
    // Full jitter on half the delay: many clients dropped by one restart do not return in step.
    const delayMs = base / 2 + Math.random() * (base / 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state === "idle") this.startConnect();
    }, delayMs);
  }
}

/** An encoding failure (a value that does not fit its field, a frame over the limit) as the typed error for its code. */
function toTqError(err: unknown): TqError {
  if (err instanceof BrokerError) return errorForCode(err.code, err.message, err.field === undefined ? {} : { field: err.field });
  return errorForCode(ErrorCode.Internal, err instanceof Error ? err.message : String(err), { cause: err });
}

/** The broker answered with a message kind the request does not expect: a protocol mismatch. */
export function unexpected(asked: string, got: Response): TqError {
  return new TqError(ErrorCode.Internal, `${asked}: unexpected ${got.kind} response from the broker`);
}
