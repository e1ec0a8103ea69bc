// The Prometheus listener on monitoring.prometheus_port: GET /metrics in the text exposition
// format, open unless auth.metrics_require_auth (then an admin key: the "metrics" operation, admin only). Serves nothing
// else and takes typed options only.

import type { Authenticator } from "../broker/auth.ts";
import type { BrokerLog } from "../broker/broker.ts";
import { BrokerError, ErrorCode, toBrokerError } from "../protocol/errors.ts";
import { bunTlsOptions, type TlsMaterial } from "../tls.ts";
import { authorizeRequest } from "./http-auth.ts";
import { errorResponse } from "./http-error.ts";

/** What the listener serves; the Metrics class satisfies it. */
export interface MetricsSourceForHttp {
  render(): Promise<string>;
  readonly contentType: string;
  authFailure(frontDoor: "http"): void;
}

export interface MetricsServerOptions {
  host: string;
  /** 0 lets the OS pick (see the returned port). */
  port: number;
  /** Checked only when requireAuth is true. */
  auth: Authenticator;
  /** auth.metrics_require_auth: scrapes need an admin key (Authorization: Bearer). */
  requireAuth: boolean;
  log: BrokerLog;
  tls?: TlsMaterial;
}

export interface MetricsServer {
  readonly port: number;
  readonly hostname: string;
  stop(): Promise<void>;
}

export function startMetricsServer(metrics: MetricsSourceForHttp, options: MetricsServerOptions): MetricsServer {
  const log = options.log;
  const server = Bun.serve({
    hostname: options.host,
    port: options.port,
    ...(options.tls ? { tls: bunTlsOptions(options.tls) } : {}),
    async fetch(request) {
      const url = new URL(request.url);
      if (url.pathname !== "/metrics") {
        return errorResponse(new BrokerError(ErrorCode.NotFound, `no route ${url.pathname} on the metrics listener; scrape /metrics`));
      }
      if (request.method !== "GET" && request.method !== "HEAD") {
        return errorResponse(new BrokerError(ErrorCode.NotFound, `/metrics takes GET, not ${request.method}`), { allow: "GET" });
      }
      try {
        if (options.requireAuth && options.auth.enabled) authorizeRequest(options.auth, request.headers.get("authorization"), "metrics");
        return new Response(await metrics.render(), { headers: { "content-type": metrics.contentType } });
      } catch (err) {
        const e = toBrokerError(err);
        if (e.code === ErrorCode.Unauthorized) {
          metrics.authFailure("http");
          log.warn("metrics scrape refused", { reason: e.message });
        } else if (e.code === ErrorCode.Internal) {
          log.error("metrics render failed", { err: e.cause ?? e });
        }
        return errorResponse(e);
      }
    },
  });
  return {
    port: server.port ?? options.port,
    hostname: server.hostname ?? options.host,
    async stop() {
      await server.stop(true);
    },
  };
}
