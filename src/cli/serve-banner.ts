// What `serve` shows a person at a terminal: the URL of each listener (protocol, gRPC, REST API,
// dashboard, metrics) and a short banner with them, the data dir (or the PostgreSQL store),
// durability, auth and TLS; and the hold that keeps start-up log lines until the banner is out.
// Text only; serve decides when.

import type { Style } from "./style.ts";

/** Longest a start-up log line waits for the banner: a slow recovery must not look like a hang. */
export const BANNER_HOLD_MS = 1000;

export interface ListenerUrls {
  protocol: string | null;
  rest: string | null;
  /** The REST listener serves the dashboard page at `/`. */
  dashboard: string | null;
  metrics: string | null;
  /** host:port as grpcurl takes it (gRPC has no URL scheme); null when api.grpc_enabled is false. */
  grpc: string | null;
}

/** "host:port" as App.addresses gives it -> a host a browser or client can dial, and the port. */
function dialable(address: string | undefined): string | null {
  if (address === undefined) return null;
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon);
  const port = address.slice(colon + 1);
  // A wildcard bind is reachable on every interface; loopback is the one sure to work from here.
  if (host === "0.0.0.0" || host === "::" || host === "[::]" || host === "") return `localhost:${port}`;
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

export function listenerUrls(addresses: Readonly<Record<string, string>>, tls: boolean): ListenerUrls {
  const http = tls ? "https" : "http";
  const tcp = dialable(addresses["broker.port"]);
  const rest = dialable(addresses["api.rest_port"]);
  const metrics = dialable(addresses["monitoring.prometheus_port"]);
  return {
    protocol: tcp === null ? null : `${tls ? "tqs" : "tq"}://${tcp}`,
    rest: rest === null ? null : `${http}://${rest}/api/v1`,
    dashboard: rest === null ? null : `${http}://${rest}/`,
    metrics: metrics === null ? null : `${http}://${metrics}/metrics`,
    grpc: dialable(addresses["api.grpc_port"]),
  };
}

export interface BannerFacts {
  version: string;
  pid: number;
  urls: ListenerUrls;
  /** True when the listeners bind every interface (broker.host 0.0.0.0 or ::). */
  allInterfaces: boolean;
  dataDir: string;
  /** Set with persistence.backend postgres: the store is the database, not dataDir, and durability is its synchronous_commit. */
  postgres?: { url: string; schema: string; nodeId: string; synchronousCommit: boolean };
  sync: "full" | "interval";
  walSyncIntervalMs: number;
  authEnabled: boolean;
  apiKeys: number;
  tls: boolean;
}

export function banner(f: BannerFacts, style: Style): string {
  const rows: Array<[string, string]> = [];
  const add = (label: string, value: string | null): void => {
    if (value !== null) rows.push([label, value]);
  };
  add("protocol", f.urls.protocol === null ? null : `${f.urls.protocol}${f.allInterfaces ? style.dim("  (all interfaces)") : ""}`);
  add("gRPC", f.urls.grpc === null ? null : `${f.urls.grpc}${f.tls ? " (TLS)" : ""}`);
  add("REST API", f.urls.rest);
  add("dashboard", f.urls.dashboard === null ? null : style.cyan(f.urls.dashboard));
  add("metrics", f.urls.metrics);
  if (f.postgres !== undefined) {
    const pg = f.postgres;
    add("store", `${pg.url} (schema ${pg.schema}, node ${pg.nodeId})`);
    add(
      "durability",
      pg.synchronousCommit
        ? "synchronous_commit on (each acknowledged task is in PostgreSQL's WAL first)"
        : "synchronous_commit off (a PostgreSQL crash can lose the last moments of acknowledged work)",
    );
  } else {
    add("data dir", f.dataDir);
    add(
      "durability",
      f.sync === "full"
        ? "full (each acknowledged task is fsynced first)"
        : `interval (fsync every ${f.walSyncIntervalMs} ms: a power loss can lose what was acknowledged since)`,
    );
  }
  add("auth", f.authEnabled ? style.green(`on (${f.apiKeys} API key${f.apiKeys === 1 ? "" : "s"})`) : style.yellow("off"));
  add("TLS", f.tls ? style.green("on") : "off");
  const width = Math.max(...rows.map(([label]) => label.length));
  const lines = rows.map(([label, value]) => `  ${style.dim(label.padEnd(width))}  ${value}`);
  return `${style.bold(`tq-broker ${f.version}`)} ${style.dim(`(pid ${f.pid})`)}\n${lines.join("\n")}\n${style.dim("Ctrl-C stops it cleanly. Logs follow.")}\n`;
}

/**
 * Log lines written while the broker starts, held (at most `holdMs`) so that the banner, which
 * needs the bound ports, comes first on a terminal. holdMs 0 writes straight through.
 */
export class StartupHold {
  private held: string[] | null;
  private readonly timer: ReturnType<typeof setTimeout> | null;

  constructor(
    private readonly write: (text: string) => void,
    holdMs: number,
  ) {
    this.held = holdMs > 0 ? [] : null;
    this.timer = holdMs > 0 ? setTimeout(() => this.release(), holdMs) : null;
    // The hold must not keep a process alive that has nothing else to do.
    (this.timer as { unref?: () => void } | null)?.unref?.();
  }

  line(text: string): void {
    if (this.held === null) this.write(text);
    else this.held.push(text);
  }

  /** Writes what was held, then lets lines through; safe to call twice. */
  release(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    const held = this.held;
    this.held = null;
    for (const text of held ?? []) this.write(text);
  }
}
