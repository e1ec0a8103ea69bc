// Every default of every key, written out by hand so a changed default fails here on purpose.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CONFIG_KEYS, DEFAULT_CONFIG, loadConfig } from "../../../src/config/index.ts";

const EXPECTED = {
  broker: {
    host: "0.0.0.0",
    port: 6379,
    max_connections: 1000,
    queue_depth_threshold: 100000,
    worker_lease_timeout_secs: 30,
    max_batch_claim: 10,
    idle_timeout_secs: 30,
    max_outbound_buffer_bytes: 64 * 1024,
    max_connections_per_address: 100,
    frame_timeout_secs: 60,
    auth_timeout_secs: 10,
    disconnect_grace_secs: 5,
    default_max_retries: 3,
    retry_base_delay_ms: 1000,
    retry_factor: 2,
    retry_max_delay_ms: 3600000,
    retry_jitter: 0.2,
    shutdown_timeout_secs: 30,
  },
  persistence: {
    backend: "sqlite",
    data_dir: "./data",
    sync: "full",
    wal_sync_interval_ms: 100,
    completed_task_retention_days: 7,
    auto_compact: true,
    compact_interval_secs: 3600,
    max_wal_bytes: 64 * 1024 * 1024,
    postgres: { url: "", pool_size: 10, schema: "tq", synchronous_commit: true },
  },
  raft: { enabled: false, node_id: "node1", peers: [], election_timeout_ms: 1000, heartbeat_interval_ms: 300, snapshot_interval_secs: 300, data_dir: "" },
  api: { rest_port: 8080, grpc_port: 9090, enable_tls: false, tls_cert_file: "", tls_key_file: "", tls_ca_file: "" },
  auth: { enabled: false, api_keys: [], metrics_require_auth: false, max_failures_per_connection: 3 },
  monitoring: { prometheus_port: 9091, log_level: "info", json_logging: true },
  worker: { concurrency: 4, heartbeat_interval_secs: 15, graceful_shutdown_timeout_secs: 60, max_inactivity_secs: 60 },
};

describe("defaults", () => {
  test("DEFAULT_CONFIG holds every key at the documented default", () => {
    expect(DEFAULT_CONFIG).toEqual(EXPECTED as typeof DEFAULT_CONFIG);
  });

  test("loading with no file, env or flags gives the defaults", () => {
    expect(loadConfig({ env: {} })).toEqual(DEFAULT_CONFIG);
  });

  test("empty sections in a file (all keys commented out, or {}) get every default", () => {
    const dir = mkdtempSync(join(tmpdir(), "tq-defaults-"));
    const file = join(dir, "empty-sections.yaml");
    writeFileSync(file, "broker:\n  # port: 1\npersistence: {}\n");
    try {
      expect(loadConfig({ file, env: {}, flags: {} })).toEqual(DEFAULT_CONFIG);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("every key has a description, an expectation and an env var named by the rule", () => {
    // A subsection (persistence.postgres) counts its keys.
    const leaves = (o: object): number =>
      Object.values(o).reduce((n: number, v) => n + (v !== null && typeof v === "object" && !Array.isArray(v) ? leaves(v) : 1), 0);
    expect(CONFIG_KEYS.length).toBe(leaves(EXPECTED));
    for (const k of CONFIG_KEYS) {
      expect(k.meta.description.length).toBeGreaterThan(10);
      expect(k.meta.expected.length).toBeGreaterThan(3);
      expect(k.envVar).toBe(`TQ_${k.section.toUpperCase()}_${k.key.replaceAll(".", "_").toUpperCase()}`);
    }
    expect(CONFIG_KEYS.find((k) => k.path === "persistence.postgres.url")?.envVar).toBe("TQ_PERSISTENCE_POSTGRES_URL");
  });
});
