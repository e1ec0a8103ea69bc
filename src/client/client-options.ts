// The Client's options, their defaults, and the parsing of tq:// and tqs:// URLs. Pure: reads the
// environment only through the `env` argument it is given; opens nothing.

import { TqError, CLIENT_ERROR_CODE } from "./tq-error.ts";

export const DEFAULT_URL = "tq://127.0.0.1:6379";
export const DEFAULT_PORT = 6379;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** A third of the broker's default idle timeout (30 s): quiet connections stay open. */
export const DEFAULT_KEEPALIVE_MS = 10_000;

export interface TlsOptions {
  /** PEM CA certificate(s) to trust instead of the system roots (a self-signed broker). */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** Verify the broker's certificate. Default true; false is for tests only. */
  rejectUnauthorized?: boolean;
  /** Name to verify the certificate against; default the URL's host. */
  servername?: string;
}

export interface ReconnectOptions {
  /** First wait after a drop, ms. Default 100. */
  initialDelayMs?: number;
  /** Longest wait between attempts, ms. Default 5000. */
  maxDelayMs?: number;
}

export interface ClientOptions {
  /**
   * tq://host:port or tqs://host:port (TLS), or several brokers comma-separated
   * (tq://a:6379,b:6379: entries without a scheme take the first one's): the client uses one and
   * moves to the next when it is gone. Default $TQ_URL, else tq://127.0.0.1:6379.
   */
  url?: string;
  /** Sent in Hello. Default $TQ_API_KEY, else none. */
  apiKey?: string;
  /** TLS settings; a tqs:// URL turns TLS on. */
  tls?: TlsOptions;
  /** How long a request may wait for its answer (including time spent reconnecting), ms. Default 30000. */
  requestTimeoutMs?: number;
  /** How long one connection attempt may take, ms. Default 10000. */
  connectTimeoutMs?: number;
  /** Reconnect after a drop, with exponential backoff. Default true. */
  reconnect?: boolean | ReconnectOptions;
  /** Ping after this long without traffic, so the broker's idle timeout (broker.idle_timeout_secs) does not close a quiet connection under a request about to be sent. 0 = never. Default 10000. */
  keepAliveMs?: number;
  /** Sent in Hello, shown in broker logs. Default "tq-client". */
  clientName?: string;
  /** Where defaults come from. Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** One broker of the URL list. */
export interface Endpoint {
  host: string;
  port: number;
  tls: boolean;
  /** tq://host:port, for messages. */
  display: string;
}

export interface ResolvedClientOptions {
  /** The first broker of the list (the only one, usually). */
  host: string;
  port: number;
  tls: (TlsOptions & { enabled: boolean });
  /** Every broker of the URL, in order: the client connects to one and moves round robin when it is gone. */
  endpoints: Endpoint[];
  apiKey: string;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  reconnect: Required<ReconnectOptions> | null;
  keepAliveMs: number;
  clientName: string;
  /** For messages: the URL (every broker of the list) with no secrets. */
  display: string;
}

function invalidOption(field: string, message: string): TqError {
  return new TqError(CLIENT_ERROR_CODE, `${field}: ${message}`, { field });
}

export interface ParsedUrl {
  host: string;
  port: number;
  tls: boolean;
}

/** tq://host[:port] or tqs://host[:port]; IPv6 hosts in brackets. A bare host:port is taken as tq://. */
export function parseBrokerUrl(url: string): ParsedUrl {
  const text = url.includes("://") ? url : `tq://${url}`;
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw invalidOption("url", `${JSON.stringify(url)} is not a URL (expected tq://host:port or tqs://host:port)`);
  }
  const scheme = parsed.protocol.replace(/:$/, "");
  if (scheme !== "tq" && scheme !== "tqs") {
    throw invalidOption("url", `scheme ${JSON.stringify(scheme)} in ${JSON.stringify(url)} is not tq or tqs`);
  }
  if (parsed.hostname === "") throw invalidOption("url", `${JSON.stringify(url)} has no host`);
  const port = parsed.port === "" ? DEFAULT_PORT : Number(parsed.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalidOption("url", `port in ${JSON.stringify(url)} is not 1-65535`);
  const host = parsed.hostname.startsWith("[") ? parsed.hostname.slice(1, -1) : parsed.hostname;
  return { host, port, tls: scheme === "tqs" };
}

/**
 * A comma-separated list of brokers: `tq://a:6379,b:6379`, `tqs://a,b:7000`. An entry without a
 * scheme takes the first entry's (so the whole list is TLS or not by its first word); one with a
 * scheme keeps its own. A single URL gives a list of one.
 */
export function parseBrokerUrls(url: string): ParsedUrl[] {
  const parts = url.split(",").map((p) => p.trim());
  if (parts.some((p) => p === "")) throw invalidOption("url", `${JSON.stringify(url)} has an empty entry (expected tq://host:port[,host:port...])`);
  const first = parseBrokerUrl(parts[0]!);
  const scheme = first.tls ? "tqs" : "tq";
  return [first, ...parts.slice(1).map((p) => parseBrokerUrl(p.includes("://") ? p : `${scheme}://${p}`))];
}

function endpointOf(parsed: ParsedUrl): Endpoint {
  const host = parsed.host.includes(":") ? `[${parsed.host}]` : parsed.host;
  return { ...parsed, display: `${parsed.tls ? "tqs" : "tq"}://${host}:${parsed.port}` };
}

function positiveMs(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw invalidOption(field, `expected a positive number of ms, got ${value}`);
  return value;
}

export function resolveClientOptions(options: ClientOptions = {}): ResolvedClientOptions {
  const env = options.env ?? (typeof process === "undefined" ? {} : process.env);
  const url = options.url ?? (env.TQ_URL || DEFAULT_URL);
  const endpoints = parseBrokerUrls(url).map(endpointOf);
  const parsed = endpoints[0]!;
  const reconnect =
    options.reconnect === false
      ? null
      : {
          initialDelayMs: positiveMs("reconnect.initialDelayMs", options.reconnect === true ? undefined : options.reconnect?.initialDelayMs, 100),
          maxDelayMs: positiveMs("reconnect.maxDelayMs", options.reconnect === true ? undefined : options.reconnect?.maxDelayMs, 5000),
        };
  return {
    host: parsed.host,
    port: parsed.port,
    tls: { ...options.tls, enabled: parsed.tls },
    endpoints,
    apiKey: options.apiKey ?? env.TQ_API_KEY ?? "",
    requestTimeoutMs: positiveMs("requestTimeoutMs", options.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS),
    connectTimeoutMs: positiveMs("connectTimeoutMs", options.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS),
    reconnect,
    keepAliveMs: options.keepAliveMs === 0 ? 0 : positiveMs("keepAliveMs", options.keepAliveMs, DEFAULT_KEEPALIVE_MS),
    clientName: options.clientName ?? "tq-client",
    display: endpoints.map((e) => e.display).join(","),
  };
}
