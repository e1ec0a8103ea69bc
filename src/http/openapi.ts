// Builds the OpenAPI 3.1 document from the same route table the server dispatches on, so the
// document cannot list a route that does not exist or miss one that does. Pure: no I/O.

import { ERRORS, type ErrorName } from "../protocol/errors.ts";
import { SCHEMAS, ref } from "./api-schemas.ts";
import type { JsonSchema, Route } from "./route.ts";

export interface OpenApiInfo {
  version: string;
}

/** Errors any route can answer: a bug, and — for protected routes — missing or weak credentials. */
const ALWAYS: readonly ErrorName[] = ["Internal"];
const PROTECTED: readonly ErrorName[] = ["Unauthorized", "Forbidden", "ProtectedMode"];

function errorStatuses(route: Route): Map<number, ErrorName[]> {
  const names = [...route.errors, ...(route.operation === null ? [] : PROTECTED), ...ALWAYS];
  const byStatus = new Map<number, ErrorName[]>();
  for (const name of names) {
    const spec = Object.values(ERRORS).find((e) => e.name === name);
    if (!spec) continue;
    const list = byStatus.get(spec.httpStatus) ?? [];
    if (!list.includes(name)) list.push(name);
    byStatus.set(spec.httpStatus, list);
  }
  return byStatus;
}

function operationOf(route: Route): JsonSchema {
  const parameters = [
    ...[...route.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      description: route.pathParams?.[m[1]!] ?? "",
      schema: { type: "string" },
    })),
    ...(route.queryParams ?? []).map((p) => ({ name: p.name, in: "query", required: p.required ?? false, description: p.description, schema: p.schema })),
  ];
  const responses: Record<string, unknown> = {};
  for (const r of route.responses) {
    const contentType = r.contentType ?? "application/json";
    responses[String(r.status)] = { description: r.description, ...(r.schema ? { content: { [contentType]: { schema: r.schema } } } : {}) };
  }
  for (const [status, names] of errorStatuses(route)) {
    responses[String(status)] ??= { description: names.join(" or "), content: { "application/json": { schema: ref("Error") } } };
  }
  return {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    ...(route.operation === null ? { security: [] } : { "x-tq-operation": route.operation }),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.requestBody ? { requestBody: { required: true, content: { "application/json": { schema: route.requestBody } } } } : {}),
    responses,
  };
}

export function buildOpenApi(routes: readonly Route[], info: OpenApiInfo): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const item = (paths[route.path] ??= {});
    item[route.method.toLowerCase()] = operationOf(route);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "tq-broker admin API",
      version: info.version,
      description:
        "Admin REST API of tq-broker. Errors are {error: {code, name, message, field, retry_after_ms}} with the protocol's error codes. " +
        "With auth.enabled, send Authorization: Bearer <key>; x-tq-operation names the permission each route needs " +
        "(admin: all; producer: submit, status, cancel, result; worker: claim, report, heartbeat).",
    },
    components: {
      schemas: SCHEMAS,
      securitySchemes: { apiKey: { type: "http", scheme: "bearer", description: "An API key from auth.api_keys." } },
    },
    security: [{ apiKey: [] }],
    paths,
  };
}
