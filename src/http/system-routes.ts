// Open routes about the server itself: liveness, readiness and the OpenAPI document (the
// dashboard's files: dashboard.ts). No queue data here beyond what readiness needs (a store ping).

import { BrokerError, ErrorCode, toBrokerError } from "../protocol/errors.ts";
import { ref } from "./api-schemas.ts";
import { buildOpenApi } from "./openapi.ts";
import type { Route, RouteContext } from "./route.ts";

interface Check {
  ok: boolean;
  error?: string;
}

async function pingStore(ctx: RouteContext): Promise<Check> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new BrokerError(ErrorCode.Timeout, `the store did not answer a ping within ${ctx.server.readyTimeoutMs} ms`)),
      ctx.server.readyTimeoutMs,
    );
  });
  try {
    await Promise.race([ctx.broker.ping(), timeout]);
    return { ok: true };
  } catch (err) {
    const e = toBrokerError(err);
    // An Internal error's own message is "internal error"; the cause tells the operator more.
    const detail = e.code === ErrorCode.Internal && e.cause instanceof Error ? e.cause.message : e.message;
    return { ok: false, error: `${e.name}: ${detail}` };
  } finally {
    clearTimeout(timer);
  }
}

export const SYSTEM_ROUTES: readonly Route[] = [
  {
    method: "GET",
    path: "/healthz",
    operation: null,
    operationId: "healthz",
    summary: "Liveness: the process is up and serving HTTP. Checks nothing else.",
    tag: "health",
    responses: [{ status: 200, description: "Up.", schema: ref("Health") }],
    errors: [],
    handle(ctx) {
      return { body: { status: "ok", version: ctx.server.serverVersion } };
    },
  },
  {
    method: "GET",
    path: "/readyz",
    operation: null,
    operationId: "readyz",
    summary:
      "Readiness: the store accepts writes, its data dir's disk is not nearly full, and every listener is bound; 503 otherwise, with the failing check named.",
    tag: "health",
    responses: [
      { status: 200, description: "Ready.", schema: ref("Readiness") },
      { status: 503, description: "Not ready: see checks.", schema: ref("Readiness") },
    ],
    errors: [],
    async handle(ctx) {
      const checks: Record<string, Check> = { store: await pingStore(ctx) };
      // Nearly full is not ready although writes still succeed: the balancer moves traffic away
      // before submits start failing with StorageUnavailable.
      if (ctx.server.disk !== null) {
        const low = await ctx.server.disk();
        checks.disk = low === null ? { ok: true } : { ok: false, error: low };
      }
      for (const [name, up] of Object.entries(ctx.server.listeners())) {
        checks[name] = up ? { ok: true } : { ok: false, error: "not listening" };
      }
      const ready = Object.values(checks).every((c) => c.ok);
      return { status: ready ? 200 : 503, body: { status: ready ? "ready" : "not_ready", checks } };
    },
  },
  {
    method: "GET",
    path: "/api/v1/openapi.json",
    operation: null,
    operationId: "openapi",
    summary: "This document.",
    tag: "meta",
    responses: [{ status: 200, description: "OpenAPI 3.1 document.", schema: { type: "object" } }],
    errors: [],
    handle(ctx) {
      return { body: buildOpenApi(ctx.server.routes, { version: ctx.server.serverVersion }) };
    },
  },
];
