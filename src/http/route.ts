// The shape of one REST route — method, path template, permission, OpenAPI facts and handler —
// and the matcher that finds one for a request. Both the server and the OpenAPI document read
// the same Route objects, so they cannot drift. No handlers and no broker calls here.

import type { Broker } from "../broker/broker.ts";
import type { Operation, Principal } from "../broker/auth.ts";
import type { ErrorName } from "../protocol/errors.ts";
import type { LiveEvents } from "./live-events.ts";

export const HTTP_METHODS = ["GET", "POST", "DELETE"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** A JSON Schema fragment as OpenAPI 3.1 takes it. */
export type JsonSchema = Readonly<Record<string, unknown>>;

export interface ParamDoc {
  name: string;
  description: string;
  schema: JsonSchema;
  required?: boolean;
}

export interface ResponseDoc {
  status: number;
  description: string;
  schema?: JsonSchema;
  /** Default application/json. */
  contentType?: string;
}

/** A readiness check the server runs on /readyz besides the store ping. */
export type ListenerCheck = () => Record<string, boolean>;

/** The data dir's free space for /readyz: null when there is enough, else why not. */
export type DiskCheck = () => Promise<string | null>;

/** What the server knows beyond the broker: handed to every handler. */
export interface ServerFacts {
  readonly routes: readonly Route[];
  readonly listeners: ListenerCheck;
  readonly disk: DiskCheck | null;
  /** Longest the store ping may take before /readyz says not ready. */
  readonly readyTimeoutMs: number;
  readonly serverVersion: string;
  /** The broker's clock: ages are measured against the times the store stamped. */
  now(): number;
  /** The dashboard's event streams. */
  readonly live: LiveEvents;
}

export interface RouteContext {
  readonly broker: Broker;
  readonly request: Request;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** Who called; null on open routes, which check no key. */
  readonly principal: Principal | null;
  readonly server: ServerFacts;
  /** Lifts the listener's idle timeout for this request (an event stream that may stay quiet). */
  keepOpen(): void;
}

/** What a handler returns: a JSON body (status defaults to the route's first response) or a ready Response. */
export type Reply = { status?: number; body: unknown } | Response;

export interface Route {
  method: HttpMethod;
  /** Template with {name} segments, e.g. "/api/v1/tasks/{id}". */
  path: string;
  /** Permission checked with authorize (broker/auth.ts); null = open to anyone (health, docs, the dashboard page). */
  operation: Operation | null;
  operationId: string;
  summary: string;
  tag: string;
  /** Descriptions of the {name} segments, by name. */
  pathParams?: Readonly<Record<string, string>>;
  queryParams?: readonly ParamDoc[];
  requestBody?: JsonSchema;
  /** Success responses; the first one's status is the default. */
  responses: readonly ResponseDoc[];
  /** Error names the route can answer with besides Unauthorized/Forbidden/Internal. */
  errors: readonly ErrorName[];
  handle(ctx: RouteContext): Reply | Promise<Reply>;
}

interface Compiled {
  route: Route;
  pattern: RegExp;
  names: string[];
}

export type RouteMatch =
  | { kind: "found"; route: Route; params: Record<string, string> }
  | { kind: "wrong_method"; allowed: HttpMethod[] }
  | { kind: "none" };

/** Path segments accept anything but "/"; decoding happens once, after the match. */
function compile(route: Route): Compiled {
  const names: string[] = [];
  const source = route.path
    .split("/")
    .map((segment) => {
      const m = /^\{([a-z_]+)\}$/.exec(segment);
      if (!m) return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      names.push(m[1]!);
      return "([^/]+)";
    })
    .join("/");
  return { route, pattern: new RegExp(`^${source}$`), names };
}

export class Router {
  private readonly compiled: Compiled[];

  constructor(readonly routes: readonly Route[]) {
    this.compiled = routes.map(compile);
    const seen = new Set<string>();
    for (const r of routes) {
      const key = `${r.method} ${r.path}`;
      if (seen.has(key)) throw new Error(`route table: ${key} is listed twice`);
      seen.add(key);
    }
  }

  match(method: string, pathname: string): RouteMatch {
    const allowed: HttpMethod[] = [];
    for (const c of this.compiled) {
      const m = c.pattern.exec(pathname);
      if (!m) continue;
      if (c.route.method !== method && !(method === "HEAD" && c.route.method === "GET")) {
        allowed.push(c.route.method);
        continue;
      }
      const params: Record<string, string> = {};
      for (const [i, name] of c.names.entries()) {
        const raw = m[i + 1] ?? "";
        try {
          params[name] = decodeURIComponent(raw);
        } catch {
          // A malformed %-escape is kept as sent; the handler's validation names it.
          params[name] = raw;
        }
      }
      return { kind: "found", route: c.route, params };
    }
    return allowed.length > 0 ? { kind: "wrong_method", allowed } : { kind: "none" };
  }
}

/** "GET /api/v1/tasks/{id}": the metric and log label of a route (bounded, unlike raw paths). */
export function routeLabel(route: Route): string {
  return `${route.method} ${route.path}`;
}
