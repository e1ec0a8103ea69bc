// API keys and roles: who may do what, for the TCP and HTTP front doors alike. Keys are kept
// only as SHA-256 digests and compared in constant time; nothing here logs or returns a key.

import { createHash, timingSafeEqual } from "node:crypto";
import { BrokerError, ErrorCode } from "../protocol/errors.ts";

export const ROLES = ["admin", "producer", "worker"] as const;
export type Role = (typeof ROLES)[number];

/** Operations as the permission table names them; both front doors map their requests onto these. */
export const OPERATIONS = [
  "submit",
  "status",
  "cancel",
  "result",
  "claim",
  "report",
  "heartbeat",
  "retry",
  "delete",
  "list",
  "stats",
  "workers",
  "manage",
  // Scraping /metrics when auth.metrics_require_auth is on: an admin key, as its docs say.
  "metrics",
] as const;
export type Operation = (typeof OPERATIONS)[number];

const ALLOWED: Record<Role, ReadonlySet<Operation>> = {
  admin: new Set(OPERATIONS),
  // A producer sees what operators see (lists, stats, workers: the dashboard) and may cancel a
  // task by id, as over TCP; every other action (retry, delete, bulk, pause, worker commands) is admin's.
  producer: new Set<Operation>(["submit", "status", "cancel", "result", "list", "stats", "workers"]),
  worker: new Set<Operation>(["claim", "report", "heartbeat"]),
};

export function roleAllows(role: Role, operation: Operation): boolean {
  return ALLOWED[role].has(operation);
}

/**
 * The one permission check of both front doors, once each has found who calls (TCP: the
 * connection's Hello; HTTP: the request's Bearer key): null when the principal's role may run
 * `operation`, else the Forbidden error that either door answers, word for word the same.
 */
export function authorize(principal: Principal, operation: Operation): BrokerError | null {
  if (ALLOWED[principal.role].has(operation)) return null;
  return new BrokerError(ErrorCode.Forbidden, `the key ${JSON.stringify(principal.name)} has role ${principal.role}, which may not ${operation}`);
}

export interface ApiKeySpec {
  name: string;
  role: Role;
  /** Plaintext key, or... */
  key?: string;
  /** ...its SHA-256 digest as 64 hex characters. */
  key_sha256?: string;
}

export interface Principal {
  name: string;
  role: Role;
}

interface StoredKey extends Principal {
  digest: Buffer;
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

export class Authenticator {
  private readonly keys: StoredKey[];

  constructor(
    readonly enabled: boolean,
    specs: readonly ApiKeySpec[],
  ) {
    this.keys = specs.map((spec) => ({
      name: spec.name,
      role: spec.role,
      digest: spec.key_sha256 !== undefined && spec.key_sha256 !== "" ? Buffer.from(spec.key_sha256, "hex") : sha256(spec.key ?? ""),
    }));
  }

  /** The key's owner, or null. Every stored key is compared, so timing does not tell which one matched. */
  authenticate(presented: string): Principal | null {
    if (presented === "") return null;
    const digest = sha256(presented);
    let found: Principal | null = null;
    for (const key of this.keys) {
      if (key.digest.length === digest.length && timingSafeEqual(key.digest, digest) && found === null) {
        found = { name: key.name, role: key.role };
      }
    }
    return found;
  }
}

/** With auth off, every client acts as admin. */
export const ANONYMOUS_ADMIN: Principal = { name: "anonymous", role: "admin" };

/** Loopback addresses, for protected mode (auth off and a non-loopback bind). */
export function isLoopback(address: string): boolean {
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.") || address === "localhost";
}
