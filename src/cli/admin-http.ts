// What the operator commands (queues, workers quiet|stop, tasks retry|cancel|delete) share: they
// speak the REST API (api.rest_port), which has the operator routes the TCP protocol lacks. The
// --api-url/--api-key/--tls-ca flags, one JSON request, its error as one line, and the question
// before a bulk action. No command logic here.

import { readFileSync } from "node:fs";
import type { CliContext } from "./command.ts";
import { UsageError } from "./exit-codes.ts";
import type { FlagSpec, ParsedArgs } from "./parse-args.ts";

export const ADMIN_FLAGS: Readonly<Record<string, FlagSpec>> = {
  "api-url": { type: "string", valueName: "URL", description: "the broker's REST API, http(s)://host:port; several brokers comma-separated are tried in turn (default $TQ_API_URL, else http://127.0.0.1:8080)" },
  "api-key": { type: "string", valueName: "KEY", description: "an admin API key (default $TQ_API_KEY)" },
  "tls-ca": { type: "string", valueName: "FILE", description: "PEM CA to trust for an https:// broker with a private certificate" },
  json: { type: "boolean", description: "print JSON (one document) instead of text" },
};

/** A refusal from the broker (its error table's name and message) or an unreachable broker. */
export class AdminError extends Error {}

export interface AdminApi {
  call(method: string, path: string, body?: unknown): Promise<any>;
}

export function adminApi(args: ParsedArgs, ctx: CliContext): AdminApi {
  // Several brokers of one cluster (comma-separated): each is tried in turn while the one before
  // is unreachable or stopping (ShuttingDown: the request was not carried out).
  const bases = (args.strings["api-url"] ?? ctx.env.TQ_API_URL ?? "http://127.0.0.1:8080").split(",").map((b) => b.trim().replace(/\/+$/, ""));
  for (const base of bases) {
    if (!/^https?:\/\/[^/]+$/.test(base)) throw new UsageError(`--api-url: ${JSON.stringify(base)} is not http(s)://host:port`);
  }
  const key = args.strings["api-key"] ?? ctx.env.TQ_API_KEY ?? "";
  let ca: string | undefined;
  const caFile = args.strings["tls-ca"];
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile, "utf8");
    } catch (err) {
      throw new UsageError(`--tls-ca ${caFile}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return {
    async call(method, path, body) {
      const unreachable: string[] = [];
      for (const base of bases) {
        const answer = await callOne(base, method, path, body);
        if (answer.kind === "ok") return answer.value;
        if (answer.kind === "stopping" && base === bases[bases.length - 1]) throw new AdminError(answer.why);
        unreachable.push(`${base} (${answer.why})`);
      }
      throw new AdminError(`cannot reach the REST API at ${unreachable.join(", ")}; is api.rest_port right? (--api-url)`);
    },
  };

  async function callOne(base: string, method: string, path: string, body: unknown): Promise<{ kind: "ok"; value: any } | { kind: "unreachable" | "stopping"; why: string }> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: { ...(key === "" ? {} : { authorization: `Bearer ${key}` }), ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(ca === undefined ? {} : { tls: { ca } }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      const code = (err as { code?: string }).code ?? "";
      const why = err instanceof Error ? err.message : String(err);
      // Only failures before anything was sent move on; a request cut off mid-way may have been carried out.
      if (NOT_SENT.has(code) || bases.length === 1) return { kind: "unreachable", why };
      throw new AdminError(`the REST API at ${base} did not answer (${why}); the request may or may not have been carried out`);
    }
    const text = await res.text();
    let parsed: any = null;
    try {
      parsed = text === "" ? null : JSON.parse(text);
    } catch {
      throw new AdminError(`${base}${path} answered ${res.status} with something that is not JSON: is --api-url the broker's REST port?`);
    }
    const why = parsed?.error ? `${parsed.error.name}: ${parsed.error.message}` : `HTTP ${res.status}`;
    if (parsed?.error?.name === "ShuttingDown") return { kind: "stopping", why };
    if (!res.ok) throw new AdminError(why);
    return { kind: "ok", value: parsed };
  }
}

/** Connection errors that mean the request never left: safe to send to the next broker. */
const NOT_SENT = new Set(["ECONNREFUSED", "ConnectionRefused", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "FailedToOpenSocket", "EAI_AGAIN"]);

/**
 * Asks before a destructive action: `--yes` says yes; at a terminal the person is asked; on a pipe
 * without --yes the command refuses rather than act unasked.
 */
export async function confirm(question: string, args: ParsedArgs, ctx: CliContext): Promise<boolean> {
  if (args.booleans.yes) return true;
  if (ctx.ask === undefined) throw new UsageError(`${question} Pass --yes to do it without asking (or --dry-run to only count)`);
  const answer = (await ctx.ask(`${question} [y/N] `)).trim().toLowerCase();
  return answer === "y" || answer === "yes";
}
