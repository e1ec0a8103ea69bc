// `tq-broker serve` on a terminal starts with a short banner (version, each listener's URL, the
// dashboard, data dir, durability, auth, TLS) before its log lines; on a pipe (as under systemd)
// it writes log lines only, and the "tq-broker started" line names the dashboard URL, which
// serves the dashboard. Real serve processes on loopback port 0 in temp dirs, stopped by PID.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnCli, spawnCliOnTerminal } from "../helpers/cli.ts";

const root = mkdtempSync(join(tmpdir(), "tq-serve-banner-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function freshDir(): string {
  const dir = join(root, `run${n++}`);
  mkdirSync(dir);
  return dir;
}

const LOOPBACK_ENV = {
  TQ_BROKER_HOST: "127.0.0.1",
  TQ_API_REST_PORT: "0", TQ_API_GRPC_PORT: "0",
  TQ_MONITORING_PROMETHEUS_PORT: "0",
  TQ_MONITORING_JSON_LOGGING: "true",
};
const LISTENING_METRICS = '"key":"monitoring.prometheus_port"';
const stripAnsi = (text: string): string => text.replace(/\x1b\[[0-9;]*m/g, "");

/** The port each listener got, from the JSON "listening" log lines. */
function ports(output: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    const record = JSON.parse(line) as { msg: string; key?: string; address?: string };
    if (record.msg === "listening" && record.key !== undefined && record.address !== undefined) out[record.key] = Number(record.address.split(":").pop());
  }
  return out;
}

describe("serve on a terminal", () => {
  test("a banner first: version, listeners, dashboard, data dir, durability, auth, TLS; then the JSON logs; SIGTERM stops it", async () => {
    const cwd = freshDir();
    const dataDir = join(cwd, "data");
    const serve = spawnCliOnTerminal(["serve", "--port", "0", "--data-dir", dataDir], { cwd, env: LOOPBACK_ENV });
    try {
      await serve.waitForOutput(LISTENING_METRICS);
    } finally {
      expect(await serve.stop("SIGTERM")).toBe(0);
    }
    const output = serve.output();
    const p = ports(output);
    const text = stripAnsi(output);
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^tq-broker \d+\.\d+\.\d+\S* \(pid \d+\)$/);
    expect(lines[0]).toContain(`(pid ${serve.pid()})`);
    expect(text).toMatch(new RegExp(`^  protocol\\s+tq://127\\.0\\.0\\.1:${p["broker.port"]}$`, "m"));
    expect(text).toMatch(new RegExp(`^  gRPC\\s+127\\.0\\.0\\.1:${p["api.grpc_port"]}$`, "m"));
    expect(text).toMatch(new RegExp(`^  REST API\\s+http://127\\.0\\.0\\.1:${p["api.rest_port"]}/api/v1$`, "m"));
    expect(text).toMatch(new RegExp(`^  dashboard\\s+http://127\\.0\\.0\\.1:${p["api.rest_port"]}/$`, "m"));
    expect(text).toMatch(new RegExp(`^  metrics\\s+http://127\\.0\\.0\\.1:${p["monitoring.prometheus_port"]}/metrics$`, "m"));
    expect(text).toMatch(new RegExp(`^  data dir\\s+${dataDir.replaceAll(".", "\\.")}$`, "m"));
    expect(text).toMatch(/^ {2}durability\s+full \(each acknowledged task is fsynced first\)$/m);
    expect(text).toMatch(/^ {2}auth\s+off$/m);
    expect(text).toMatch(/^ {2}TLS\s+off$/m);
    // Before every log line, the start-up ones ("store opened") included.
    const firstLog = lines.findIndex((l) => l.startsWith("{"));
    expect(lines.findIndex((l) => l.startsWith("  TLS"))).toBeLessThan(firstLog);
    expect(lines[firstLog]).toContain('"msg":"store opened"');
    // Colour is for terminals too: the banner's title is bold.
    expect(output).toContain("\x1b[1mtq-broker ");
  }, 30_000);

  test("the banner says what the config says: sync interval, auth on with its key count; NO_COLOR: no escapes", async () => {
    const cwd = freshDir();
    const config = join(cwd, "broker.yaml");
    writeFileSync(
      config,
      `persistence:\n  sync: interval\n  wal_sync_interval_ms: 250\nauth:\n  enabled: true\n  api_keys:\n    - { name: ops, role: admin, key: "banner-test-key-0123456789" }\n    - { name: app, role: producer, key: "banner-test-key-9876543210" }\n`,
    );
    const serve = spawnCliOnTerminal(["serve", "--config", config, "--port", "0", "--data-dir", join(cwd, "data")], { cwd, env: { ...LOOPBACK_ENV, NO_COLOR: "1" } });
    try {
      await serve.waitForOutput(LISTENING_METRICS);
    } finally {
      expect(await serve.stop("SIGTERM")).toBe(0);
    }
    const output = serve.output();
    expect(output).not.toContain("\x1b");
    expect(output).toMatch(/^ {2}durability\s+interval \(fsync every 250 ms: a power loss can lose what was acknowledged since\)$/m);
    expect(output).toMatch(/^ {2}auth\s+on \(2 API keys\)$/m);
    expect(output).not.toContain("banner-test-key");
  }, 30_000);
});

describe("serve on a pipe", () => {
  test("log lines only, no banner; the started line names the dashboard URL, which serves the dashboard", async () => {
    const cwd = freshDir();
    const serve = spawnCli(["serve", "--port", "0", "--data-dir", join(cwd, "data")], { cwd, env: LOOPBACK_ENV });
    try {
      await serve.waitForStdout(LISTENING_METRICS);
      const lines = serve.stdout().trimEnd().split("\n");
      for (const line of lines) expect(line).toStartWith('{"ts":');
      expect(serve.stdout()).not.toContain("durability");
      expect(serve.stdout()).not.toContain("\x1b");
      const started = lines.map((l) => JSON.parse(l) as { msg: string; dashboard?: string }).find((r) => r.msg === "tq-broker started");
      const restPort = ports(serve.stdout())["api.rest_port"];
      const dashboard = started?.dashboard ?? "";
      expect(dashboard).toBe(`http://127.0.0.1:${restPort}/`);
      const page = await fetch(dashboard);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toContain("text/html");
      expect(await page.text()).toContain("tq-broker");
    } finally {
      expect(await serve.stop("SIGTERM")).toBe(0);
    }
  }, 30_000);
});
