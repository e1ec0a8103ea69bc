// Rules that span several keys (TLS needs a cert, auth needs keys, postgres needs a URL, raft mode is refused).
// Runs on a config that already passed the schema; returns problems, never throws.

import { createHash } from "node:crypto";
import type { ConfigProblem } from "./config-error.ts";
import type { Config } from "./schema.ts";

/**
 * Listeners that bind a port; two of them on one non-zero port cannot both start. The gRPC port
 * binds nothing yet but is checked too, so a file that works now keeps working when it does.
 */
const LISTENER_PORT_KEYS = [
  ["broker.port", (c: Config) => c.broker.port],
  ["api.rest_port", (c: Config) => c.api.rest_port],
  ["api.grpc_port", (c: Config) => c.api.grpc_port],
  ["monitoring.prometheus_port", (c: Config) => c.monitoring.prometheus_port],
] as const;

export function checkConfigRules(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];

  if (config.api.enable_tls) {
    for (const key of ["tls_cert_file", "tls_key_file"] as const) {
      if (config.api[key] === "") problems.push({ path: `api.${key}`, message: "required when api.enable_tls is true" });
    }
  }

  if (config.auth.enabled && config.auth.api_keys.length === 0) {
    problems.push({ path: "auth.api_keys", message: "at least one key is required when auth.enabled is true" });
  }
  const seenNames = new Map<string, number>();
  // One key value under two entries would be one role or the other depending on lookup order;
  // compared by SHA-256 so `key` and `key_sha256` entries of one secret are caught too.
  const seenDigests = new Map<string, number>();
  config.auth.api_keys.forEach((k, i) => {
    const first = seenNames.get(k.name);
    if (first === undefined) seenNames.set(k.name, i);
    else problems.push({ path: `auth.api_keys[${i}].name`, message: `duplicate name ${JSON.stringify(k.name)} (also auth.api_keys[${first}])` });
    const digest = k.key_sha256 !== undefined ? k.key_sha256.toLowerCase() : createHash("sha256").update(k.key ?? "", "utf8").digest("hex");
    const same = seenDigests.get(digest);
    if (same === undefined) {
      seenDigests.set(digest, i);
      return;
    }
    const other = config.auth.api_keys[same]!;
    problems.push({
      path: `auth.api_keys[${i}].${k.key_sha256 !== undefined ? "key_sha256" : "key"}`,
      message:
        `the same key as auth.api_keys[${same}] (${JSON.stringify(other.name)}, role ${other.role}); ` +
        `one key must have one role, give ${JSON.stringify(k.name)} (role ${k.role}) its own key`,
    });
  });

  const seenPorts = new Map<number, string>();
  for (const [key, read] of LISTENER_PORT_KEYS) {
    const port = read(config);
    if (port === 0) continue;
    const other = seenPorts.get(port);
    if (other === undefined) seenPorts.set(port, key);
    else problems.push({ path: key, message: `port ${port} is already used by ${other}` });
  }

  if (config.raft.enabled) {
    problems.push({
      path: "raft.enabled",
      message:
        "tq-broker has no Raft mode; set raft.enabled to false. For several brokers, use one PostgreSQL database " +
        "(persistence.backend: postgres, persistence.postgres.url; raft.node_id names each broker); the other raft keys are accepted and ignored",
    });
  }
  if (config.persistence.backend === "postgres" && config.persistence.postgres.url === "") {
    problems.push({
      path: "persistence.postgres.url",
      message: "required when persistence.backend is postgres (postgres://user:password@host:port/database, or TQ_PERSISTENCE_POSTGRES_URL)",
    });
  }
  return problems;
}
