// What the TCP front door is started with (address, limits, deadlines, auth, the log and metric
// hooks, the protected-mode test seam) and what it gives back to stop it. Types only.

import type { Authenticator } from "../broker/auth.ts";
import type { Clock } from "../clock.ts";
import type { BrokerLog } from "../broker/broker-types.ts";
import type { BunTlsOptions } from "../tls.ts";

/** Why a connection was refused or cut: the label of tq_connections_refused_total. */
export type ConnectionRefusal = "max_connections" | "max_connections_per_address" | "protected_mode" | "frame_timeout" | "auth_timeout";

export interface TcpServerOptions {
  host: string;
  port: number;
  maxConnections: number;
  /** Connections one client address may hold (IPv6: one /64; loopback exempt); 0 or absent = no limit. */
  maxConnectionsPerAddress?: number;
  /** A connection that sends nothing, reads nothing and waits for nothing this long is closed. */
  idleTimeoutMs: number;
  /** A frame must be complete this long after its first byte arrived, or the connection is closed; absent = no limit. */
  frameTimeoutMs?: number;
  /** With auth on, a connection without a successful Hello this long after connecting is closed; absent = no limit. */
  authTimeoutMs?: number;
  /** Queued reply bytes past which the broker stops reading from that client. */
  maxOutboundBytes: number;
  auth: Authenticator;
  /** Failed Hellos after which the connection is closed. */
  maxAuthFailures: number;
  serverVersion: string;
  heartbeatIntervalMs: number;
  defaultLeaseMs: number;
  maxBatchClaim: number;
  /** Taken whole from tls.ts (bunTlsOptions), so the protocol port enforces the same policy as HTTP. */
  tls?: BunTlsOptions;
  log: BrokerLog;
  /** The broker's clock: the idle, frame and auth deadlines run on it. Default: the system's. */
  clock?: Clock;
  /** Called per error answered, for metrics. */
  onProtocolError?: (code: number) => void;
  onAuthFailure?: () => void;
  /** Called per connection refused at accept or closed by a deadline that protects the slots. */
  onConnectionRefused?: (reason: ConnectionRefusal) => void;
  /**
   * Test seam: tests may bind only loopback, so they make the listener judge protected mode as if
   * bound to `bindHost` and as if every client came from `remoteAddress`. Never set in production.
   */
  simulate?: { bindHost?: string; remoteAddress?: string };
}

export interface TcpServer {
  readonly port: number;
  readonly hostname: string;
  connectionCount(): number;
  /** Requests being worked on across all connections (parked claims included). */
  busyCount(): number;
  /** Stops accepting new connections; open ones keep being served. */
  stopAccepting(): void;
  /**
   * Shutdown: from now on every request read is answered ShuttingDown; requests being worked on
   * finish and are answered; each connection is closed once its replies are written and it has
   * been quiet a moment — or when `timeoutMs` runs out.
   */
  closeAll(timeoutMs: number): Promise<void>;
}
