// Config edge cases found from outside exit 78 with the key's path through the real CLI, both
// `config check` and `serve`: a YAML alias bomb, an empty host, an empty data dir, and one API
// key value listed under two entries (two roles). Nothing starts, nothing is written.

import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";

// Each case runs two or three CLI processes.
setDefaultTimeout(40_000);

const root = mkdtempSync(join(tmpdir(), "tq-config-edges-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function freshDir(): string {
  const dir = join(root, `case${n++}`);
  mkdirSync(dir);
  return dir;
}

const LOOPBACK_ENV = { TQ_BROKER_HOST: "127.0.0.1", TQ_BROKER_PORT: "0", TQ_API_REST_PORT: "0", TQ_API_GRPC_PORT: "0", TQ_MONITORING_PROMETHEUS_PORT: "0" };

/** `config check FILE` and `serve --config FILE` on a fresh dir; serve must refuse before it starts. */
async function refusedBoth(yaml: string, serveEnv: Record<string, string> = LOOPBACK_ENV): Promise<{ check: string; serve: string; dir: string }> {
  const dir = freshDir();
  const file = join(dir, "broker.yaml");
  writeFileSync(file, yaml);
  const check = await runCli(["config", "check", file], { cwd: dir }, 15_000);
  expect({ what: "config check", exitCode: check.exitCode }).toEqual({ what: "config check", exitCode: 78 });
  const serve = await runCli(["serve", "--config", file], { cwd: dir, env: serveEnv }, 15_000);
  expect({ what: "serve", exitCode: serve.exitCode, stdout: serve.stdout }).toEqual({ what: "serve", exitCode: 78, stdout: "" });
  expect(serve.stderr).not.toContain("    at ");
  return { check: check.stderr, serve: serve.stderr, dir };
}

describe("config edge cases exit 78 with the key's path", () => {
  test("a YAML alias bomb (billion laughs) is refused at once, naming the first alias's key and line", async () => {
    const levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
    for (const [prev, name] of [["a", "b"], ["b", "c"], ["c", "d"], ["d", "e"], ["e", "f"], ["f", "g"], ["g", "h"], ["h", "i"]] as const) {
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(", ")}]`);
    }
    const t0 = performance.now();
    const r = await refusedBoth(`${levels.join("\n")}\n`);
    console.log(`alias bomb: config check + serve refused in ${(performance.now() - t0).toFixed(0)} ms`);
    for (const out of [r.check, r.serve]) {
      expect(out).toContain("b: YAML aliases expand to too many nodes");
      expect(out).toContain("the first alias is *a here");
      expect(out).toContain("broker.yaml line 2)");
    }
  });

  test("a few aliases that expand to little still load", async () => {
    const dir = freshDir();
    const file = join(dir, "ok.yaml");
    writeFileSync(file, "broker:\n  retry_base_delay_ms: &d 500\npersistence:\n  wal_sync_interval_ms: *d\n");
    const r = await runCli(["config", "check", file], { cwd: dir });
    expect(r.exitCode).toBe(0);
  });

  test('broker.host: "" is refused by config check and serve, from the file and from the environment', async () => {
    // The file's host must reach serve, so the env sets only the ports here.
    const { TQ_BROKER_HOST: _host, ...portsOnly } = LOOPBACK_ENV;
    const r = await refusedBoth('broker:\n  host: ""\n', portsOnly);
    for (const out of [r.check, r.serve]) expect(out).toContain('broker.host: expected a host name or IP address, not empty and without spaces, got "" (');
    const env = await runCli(["serve", "--data-dir", "d"], { cwd: freshDir(), env: { ...LOOPBACK_ENV, TQ_BROKER_HOST: "" } }, 15_000);
    expect(env.exitCode).toBe(78);
    expect(env.stderr).toContain('broker.host: expected a host name or IP address, not empty and without spaces, got "" (from TQ_BROKER_HOST)');
  });

  test('persistence.data_dir: "" is refused, not taken as the working directory', async () => {
    const r = await refusedBoth('persistence:\n  data_dir: ""\n');
    for (const out of [r.check, r.serve]) expect(out).toContain('persistence.data_dir: expected a directory path (not empty), got "" (');
    // Nothing was created in the working directory (no lock file, no database).
    expect(readdirSync(r.dir)).toEqual(["broker.yaml"]);
    const flag = freshDir();
    const viaFlag = await runCli(["serve", "--data-dir", "  "], { cwd: flag, env: LOOPBACK_ENV }, 15_000);
    expect(viaFlag.exitCode).toBe(78);
    expect(viaFlag.stderr).toContain('persistence.data_dir: expected a directory path (not empty), got "  " (from the command line)');
    expect(existsSync(join(flag, "tq.db"))).toBe(false);
  });

  test("one API key value under two entries (two roles) is refused without echoing the key", async () => {
    const key = "shared-key-0123456789";
    const r = await refusedBoth(
      `auth:\n  enabled: true\n  api_keys:\n    - { name: app, role: producer, key: "${key}" }\n    - { name: ops, role: admin, key: "${key}" }\n`,
    );
    for (const out of [r.check, r.serve]) {
      expect(out).toContain('auth.api_keys[1].key: the same key as auth.api_keys[0] ("app", role producer); one key must have one role, give "ops" (role admin) its own key (');
      expect(out).not.toContain(key);
    }
    // The same secret once in clear and once as its SHA-256 is the same key too.
    const digest = createHash("sha256").update(key).digest("hex").toUpperCase();
    const hashed = await refusedBoth(
      `auth:\n  enabled: true\n  api_keys:\n    - { name: app, role: producer, key: "${key}" }\n    - { name: w, role: worker, key_sha256: "${digest}" }\n`,
    );
    expect(hashed.check).toContain('auth.api_keys[1].key_sha256: the same key as auth.api_keys[0] ("app", role producer)');
    expect(hashed.check).not.toContain(digest);
  });
});
