// Settings that are valid but risky, said loudly: `tq-broker serve` logs a warning at start and
// `tq-broker config check` prints it on stderr (still exit 0); the gRPC listener is in the start-up
// lines and the clash check, and said to be off when api.grpc_enabled is false. Real CLI processes, loopback.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, spawnCli } from "../../helpers/cli.ts";

const root = mkdtempSync(join(tmpdir(), "tq-warn-"));
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
const STARTED = '"msg":"tq-broker started"';
const KEYS = JSON.stringify([{ name: "app", role: "producer", key: "a-long-random-string-0123" }]);

interface LogLine {
  level: string;
  msg: string;
  key?: string;
  port?: number;
  address?: string;
}

function lines(stdout: string): LogLine[] {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as LogLine);
}

describe("API keys configured while auth is off", () => {
  test("serve warns at start, naming auth.enabled, before it listens", async () => {
    const cwd = freshDir();
    const broker = spawnCli(["serve", "--port", "0"], { cwd, env: { ...LOOPBACK_ENV, TQ_AUTH_API_KEYS: KEYS } });
    await broker.waitForStdout(STARTED);
    expect(await broker.stop()).toBe(0);
    const log = lines(broker.stdout());
    const warning = log.find((l) => l.level === "warn" && l.key === "auth.enabled");
    expect(warning?.msg).toContain("AUTHENTICATION IS OFF although auth.api_keys lists 1 key");
    expect(warning?.msg).toContain("auth.enabled: true");
    expect(log.indexOf(warning!)).toBeLessThan(log.findIndex((l) => l.msg === "listening"));
  });

  test("no warning when auth is on, or when no keys are listed", async () => {
    const cases: Array<Record<string, string>> = [{ TQ_AUTH_API_KEYS: KEYS, TQ_AUTH_ENABLED: "true" }, {}];
    for (const env of cases) {
      const broker = spawnCli(["serve", "--port", "0"], { cwd: freshDir(), env: { ...LOOPBACK_ENV, ...env } });
      await broker.waitForStdout(STARTED);
      expect(await broker.stop()).toBe(0);
      expect(lines(broker.stdout()).filter((l) => l.level === "warn" && l.key === "auth.enabled")).toEqual([]);
    }
  });

  test("config check prints the warning on stderr and still exits 0", async () => {
    const cwd = freshDir();
    const file = join(cwd, "broker.yaml");
    writeFileSync(file, `auth:\n  enabled: false\n  api_keys:\n    - { name: app, role: producer, key: "a-long-random-string-0123" }\n`);
    const r = await runCli(["config", "check", file], { cwd });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`${file}: ok\n`);
    expect(r.stderr).toContain("warning: auth.enabled: AUTHENTICATION IS OFF although auth.api_keys lists 1 key");
    expect(r.stderr).not.toContain("a-long-random-string-0123");
  });
});

describe("api.grpc_port and api.grpc_enabled", () => {
  test("serve lists the gRPC listener with its address among those listening", async () => {
    const broker = spawnCli(["serve", "--port", "0"], { cwd: freshDir(), env: LOOPBACK_ENV });
    await broker.waitForStdout(STARTED);
    expect(await broker.stop()).toBe(0);
    const listening = lines(broker.stdout()).filter((l) => l.msg === "listening");
    expect(listening.map((l) => l.key)).toEqual(["broker.port", "api.rest_port", "monitoring.prometheus_port", "api.grpc_port"]);
    expect(String(listening.find((l) => l.key === "api.grpc_port")?.address)).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
  });

  test("api.grpc_enabled: false starts without gRPC, says so, and frees the port from the clash check", async () => {
    const broker = spawnCli(["serve", "--port", "0"], { cwd: freshDir(), env: { ...LOOPBACK_ENV, TQ_API_GRPC_ENABLED: "false", TQ_API_GRPC_PORT: "9191" } });
    await broker.waitForStdout(STARTED);
    expect(await broker.stop()).toBe(0);
    const notice = lines(broker.stdout()).find((l) => l.key === "api.grpc_enabled");
    expect(notice).toMatchObject({ level: "info" });
    expect(notice?.msg).toContain("gRPC API off (api.grpc_enabled: false)");
    expect(lines(broker.stdout()).filter((l) => l.msg === "listening").map((l) => l.key)).toEqual(["broker.port", "api.rest_port", "monitoring.prometheus_port"]);
    const cwd = freshDir();
    const file = join(cwd, "broker.yaml");
    writeFileSync(file, "api:\n  rest_port: 8080\n  grpc_port: 8080\n  grpc_enabled: false\n");
    expect((await runCli(["config", "check", file], { cwd })).exitCode).toBe(0);
  });

  test("a gRPC port equal to another listener's is refused by config check and serve: 78", async () => {
    const cwd = freshDir();
    const file = join(cwd, "broker.yaml");
    writeFileSync(file, "api:\n  rest_port: 8080\n  grpc_port: 8080\n");
    const check = await runCli(["config", "check", file], { cwd });
    expect(check.exitCode).toBe(78);
    expect(check.stderr).toContain(`api.grpc_port: port 8080 is already used by api.rest_port (${file} line 3)`);
    const serve = await runCli(["serve", "--config", file, "--data-dir", join(cwd, "never")], { cwd, env: { TQ_BROKER_HOST: "127.0.0.1" } });
    expect(serve.exitCode).toBe(78);
    expect(serve.stderr).toContain("api.grpc_port: port 8080 is already used by api.rest_port");
  });
});

describe("other settings that would be silently ignored", () => {
  test("TLS files without api.enable_tls, and metrics_require_auth without auth: config check warns, exit 0", async () => {
    const cwd = freshDir();
    const file = join(cwd, "broker.yaml");
    writeFileSync(file, "api:\n  tls_cert_file: /etc/tq/cert.pem\n  tls_key_file: /etc/tq/key.pem\nauth:\n  metrics_require_auth: true\n");
    const r = await runCli(["config", "check", file], { cwd });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain("warning: api.enable_tls: TLS IS OFF although api.tls_cert_file, api.tls_key_file are set: every listener serves plaintext");
    expect(r.stderr).toContain("warning: auth.metrics_require_auth: auth.metrics_require_auth is true but auth.enabled is false: /metrics is served without a key");
  });

  test("serve logs the TLS warning at start", async () => {
    const broker = spawnCli(["serve", "--port", "0"], { cwd: freshDir(), env: { ...LOOPBACK_ENV, TQ_API_TLS_CA_FILE: "/etc/tq/ca.pem" } });
    await broker.waitForStdout(STARTED);
    expect(await broker.stop()).toBe(0);
    const warning = lines(broker.stdout()).find((l) => l.level === "warn" && l.key === "api.enable_tls");
    expect(warning?.msg).toContain("TLS IS OFF although api.tls_ca_file is set");
  });
});
