// A config file written for the original spec (test/fixtures/original-spec.yaml: every section
// and key at the spec's values) passes `tq-broker config check`, loads to exactly those values,
// and starts the real broker (ports moved to 0 and the host to loopback by env and flags).

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { loadConfig } from "../../src/config/index.ts";
import { Client } from "../../src/index.ts";
import { spawnBroker } from "../helpers/broker-process.ts";
import { runCli } from "../helpers/cli.ts";

const FIXTURE = resolve(import.meta.dir, "../fixtures/original-spec.yaml");
const dir = mkdtempSync(join(tmpdir(), "tq-spec-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the original spec's config file", () => {
  test("lists every section and key of the spec", () => {
    const file = parse(readFileSync(FIXTURE, "utf8")) as Record<string, Record<string, unknown>>;
    expect(Object.fromEntries(Object.entries(file).map(([section, keys]) => [section, Object.keys(keys)]))).toEqual({
      broker: ["host", "port", "max_connections", "queue_depth_threshold", "worker_lease_timeout_secs", "max_batch_claim"],
      persistence: ["data_dir", "wal_sync_interval_ms", "completed_task_retention_days", "auto_compact", "compact_interval_secs"],
      raft: ["enabled", "node_id", "election_timeout_ms", "heartbeat_interval_ms", "snapshot_interval_secs"],
      api: ["rest_port", "grpc_port", "enable_tls"],
      auth: ["enabled", "api_keys"],
      monitoring: ["prometheus_port", "log_level", "json_logging"],
      worker: ["concurrency", "heartbeat_interval_secs", "graceful_shutdown_timeout_secs", "max_inactivity_secs"],
    });
  });

  test("config check: exit 0, no problem and no warning", async () => {
    const r = await runCli(["config", "check", FIXTURE], { cwd: dir });
    expect(r).toEqual({ exitCode: 0, stdout: `${FIXTURE}: ok\n`, stderr: "" });
  });

  test("loads to the spec's values, which are also tq-broker's defaults", () => {
    const file = parse(readFileSync(FIXTURE, "utf8")) as Record<string, Record<string, unknown>>;
    const loaded = loadConfig({ file: FIXTURE, env: {} }) as unknown as Record<string, Record<string, unknown>>;
    const defaults = loadConfig({ env: {} }) as unknown as Record<string, Record<string, unknown>>;
    for (const [section, keys] of Object.entries(file)) {
      for (const [key, value] of Object.entries(keys)) {
        expect({ key: `${section}.${key}`, value: loaded[section]?.[key] }).toEqual({ key: `${section}.${key}`, value });
        expect({ key: `${section}.${key}`, value: defaults[section]?.[key] }).toEqual({ key: `${section}.${key}`, value });
      }
    }
  });

  test("serve --config starts the broker with it, serves a submit, and stops cleanly", async () => {
    const broker = await spawnBroker({
      dataDir: join(dir, "data"),
      args: ["--config", FIXTURE],
      env: { TQ_API_GRPC_PORT: "0" },
    });
    const client = new Client({ url: `tq://127.0.0.1:${broker.port}`, env: {}, reconnect: false });
    try {
      const { id } = await client.submit("spec.check", { ok: true });
      expect((await client.status(id)).status).toBe("pending");
    } finally {
      await client.close();
      broker.proc.kill("SIGTERM");
    }
    expect(await broker.exited).toBe(0);
    expect(broker.output()).toContain('"msg":"tq-broker started"');
    expect(broker.output()).toContain(`"config_file":"${FIXTURE}"`);
  });
});
