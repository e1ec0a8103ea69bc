// config/broker.yaml as a contract, checked through the real CLI: every key it lists is accepted
// (from the file and as a TQ_<SECTION>_<KEY> variable), its values are the real defaults, and the
// defaults the docs state (PROTOCOL.md, DESIGN) are what `tq-broker config print` shows.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { runCli } from "../helpers/cli.ts";

const YAML_PATH = resolve(import.meta.dir, "../../config/broker.yaml");
const shipped = parse(readFileSync(YAML_PATH, "utf8")) as Record<string, Record<string, unknown>>;
const cwd = mkdtempSync(join(tmpdir(), "tq-conf-"));

/** Every leaf key as [path parts, value]. */
function leaves(o: Record<string, unknown>, prefix: string[] = []): [string[], unknown][] {
  const out: [string[], unknown][] = [];
  for (const [k, v] of Object.entries(o)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) out.push(...leaves(v as Record<string, unknown>, [...prefix, k]));
    else out.push([[...prefix, k], v]);
  }
  return out;
}

describe("config/broker.yaml", () => {
  test("the shipped file passes `config check`", async () => {
    const r = await runCli(["config", "check", YAML_PATH], { cwd });
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test("its values are exactly the defaults `config print` shows with no file and no environment", async () => {
    const r = await runCli(["config", "print", "--json"], { cwd });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(shipped);
  });

  test("every key is accepted as TQ_<SECTION>_<KEY> (here set to its default)", async () => {
    const env: Record<string, string> = {};
    for (const [path, v] of leaves(shipped)) env[`TQ_${path.join("_").toUpperCase()}`] = Array.isArray(v) ? JSON.stringify(v) : String(v);
    expect(Object.keys(env).length).toBeGreaterThan(50);
    const r = await runCli(["config", "print", "--json"], { cwd, env });
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(shipped);
  });

  test("an environment value changes the key it names", async () => {
    const r = await runCli(["config", "print", "--json"], { cwd, env: { TQ_BROKER_MAX_BATCH_CLAIM: "25", TQ_PERSISTENCE_POSTGRES_POOL_SIZE: "3", TQ_MONITORING_JSON_LOGGING: "false" } });
    const printed = JSON.parse(r.stdout) as typeof shipped;
    expect(printed.broker!.max_batch_claim).toBe(25);
    expect((printed.persistence!.postgres as Record<string, unknown>).pool_size).toBe(3);
    expect(printed.monitoring!.json_logging).toBe(false);
  });

  test("the defaults PROTOCOL.md states are the shipped ones", () => {
    const b = shipped.broker!;
    expect(b).toMatchObject({
      port: 6379, max_connections: 1000, max_connections_per_address: 100, frame_timeout_secs: 60, auth_timeout_secs: 10,
      idle_timeout_secs: 30, max_outbound_buffer_bytes: 65536, disconnect_grace_secs: 5, worker_lease_timeout_secs: 30,
      max_batch_claim: 10, queue_depth_threshold: 100000, default_max_retries: 3,
    });
    expect(shipped.auth!.max_failures_per_connection).toBe(3);
    expect(shipped.worker).toMatchObject({ heartbeat_interval_secs: 15, max_inactivity_secs: 60, concurrency: 4, graceful_shutdown_timeout_secs: 60 });
    expect(shipped.persistence).toMatchObject({ data_dir: "./data", wal_sync_interval_ms: 100, completed_task_retention_days: 7, auto_compact: true, compact_interval_secs: 3600 });
    expect(shipped.api).toMatchObject({ rest_port: 8080, grpc_port: 9090, enable_tls: false });
    expect(shipped.monitoring).toMatchObject({ prometheus_port: 9091, log_level: "info", json_logging: true });
    expect(shipped.raft).toMatchObject({ enabled: false, node_id: "node1", election_timeout_ms: 1000, heartbeat_interval_ms: 300, snapshot_interval_secs: 300 });
  });

  test("a bad value is refused with its key path and exit 78", async () => {
    const r = await runCli(["config", "print", "--json"], { cwd, env: { TQ_BROKER_PORT: "abc" } });
    expect(r.exitCode).toBe(78);
    expect(r.stderr).toContain("broker.port");
  });
});
