// What the TCP front door is started with (address, limits, auth, the log and metric hooks, the
// protected-mode test seam) and what it gives back to stop it. Types only.

import type { Authenticator } from "../broker/auth.ts";
import type { BrokerLog } from "../broker/broker-types.ts";
import type { BunTlsOptions } from "../tls.ts";

export interface TcpServerOptions {
  host: string;
  port: number;
  maxConnections: number;
  /** A connection that sends nothing (and waits for nothing) this long is closed. */
  idleTimeoutMs: number;
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
  /** Called per error answered, for metrics. */
  onProtocolError?: (code: number) => void;
  onAuthFailure?: () => void;
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
