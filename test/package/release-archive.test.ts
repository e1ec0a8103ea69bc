// What a user downloads: `build.ts --release` for this machine's platform (every platform with
// TQ_TEST_RELEASE_ALL=1, `npm run test:release`), the checksums verified with sha256sum, the
// archive unpacked into an empty directory and its executable run with no Bun or Node on PATH.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Client } from "../../src/index.ts";
import { runtimePlatform } from "../../src/version.ts";
import { REPO_ROOT, runCli, spawnCli } from "../helpers/cli.ts";
import { mustRun } from "../helpers/run-command.ts";
import { describeExecutable, EXPECTED_FORMAT } from "./executable-format.ts";

const ALL = process.env.TQ_TEST_RELEASE_ALL === "1";
const machine = runtimePlatform();
const version = (JSON.parse(readFileSync(resolve(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;
const root = mkdtempSync(join(tmpdir(), "tq-release-"));
const releaseDir = join(root, "dist/release");
const platforms = ALL ? Object.keys(EXPECTED_FORMAT) : [machine];
const archiveOf = (platform: string): string => `tq-broker-${version}-${platform}.tar.gz`;

// The executable's environment: PATH is an empty directory, so neither bun nor node can be found.
const emptyPath = join(root, "empty-path");
const isolatedEnv = { PATH: emptyPath, TQ_BROKER_HOST: "127.0.0.1", TQ_API_REST_PORT: "0", TQ_API_GRPC_PORT: "0", TQ_MONITORING_PROMETHEUS_PORT: "0" };

beforeAll(async () => {
  mkdirSync(emptyPath);
  const only = ALL ? [] : ["--platform", machine];
  await mustRun([process.execPath, "run", resolve(REPO_ROOT, "build.ts"), "--release", ...only, "--out", join(root, "dist")], { cwd: REPO_ROOT, timeoutMs: ALL ? 900_000 : 170_000 });
}, ALL ? 900_000 : 180_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("release archives", () => {
  test("dist/release holds one archive per platform, the SDK tarball and SHA256SUMS, which sha256sum -c verifies", async () => {
    const expected = [...platforms.map(archiveOf), `tq-broker-${version}.tgz`];
    expect(readdirSync(releaseDir).sort()).toEqual([...expected, "SHA256SUMS"].sort());
    const sums = readFileSync(join(releaseDir, "SHA256SUMS"), "utf8");
    expect(sums.trim().split("\n").map((line) => line.replace(/^[0-9a-f]{64} {2}/, "")).sort()).toEqual(expected.sort());
    // macOS has shasum, not sha256sum (docs/install.md gives both).
    const sha256sum = Bun.which("sha256sum") === null ? ["shasum", "-a", "256"] : ["sha256sum"];
    const check = await mustRun([...sha256sum, "-c", "SHA256SUMS"], { cwd: releaseDir });
    expect(check.stdout.trim().split("\n").sort()).toEqual(expected.map((f) => `${f}: OK`).sort());
  });

  test.each(platforms)("%s: one top directory with the executable (0755), config, README and LICENSE, owned by root", async (platform) => {
    const listing = (await mustRun(["tar", "-tvzf", archiveOf(platform)], { cwd: releaseDir })).stdout.trim().split("\n");
    const entries = listing.map((line) => {
      const [mode, owner, , , , path] = line.split(/\s+/);
      return { mode, owner, path };
    });
    const top = `tq-broker-${version}-${platform}/`;
    expect(entries.map((e) => e.path).sort()).toEqual(
      [top, `${top}LICENSE`, `${top}README.md`, `${top}config/`, `${top}config/broker.yaml`, `${top}config/tq-broker.service`, `${top}tq-broker`].sort(),
    );
    expect(entries.find((e) => e.path === `${top}tq-broker`)?.mode).toBe("-rwxr-xr-x");
    expect(entries.find((e) => e.path === `${top}config/broker.yaml`)?.mode).toBe("-rw-r--r--");
    expect(entries.every((e) => e.owner === "0/0")).toBe(true);
  });

  test.each(platforms)("%s: the executable is built for that OS, CPU and libc, and names that platform", async (platform) => {
    const dir = join(root, `inspect-${platform}`);
    mkdirSync(dir);
    await mustRun(["tar", "-xzf", join(releaseDir, archiveOf(platform)), "-C", dir], { cwd: dir });
    const bin = join(dir, `tq-broker-${version}-${platform}`, "tq-broker");
    expect(await describeExecutable(bin)).toEqual(EXPECTED_FORMAT[platform]!);
    // The platform is embedded at build time (a string in the bundled code), not read from the
    // machine it runs on: the one test that can check it for executables this machine cannot run.
    const bytes = Buffer.from(await Bun.file(bin).arrayBuffer());
    expect(bytes.includes(`platform: "${platform}"`) || bytes.includes(`platform:"${platform}"`)).toBe(true);
  });
});

describe(`the ${machine} archive, unpacked into an empty directory, with no bun or node on PATH`, () => {
  const unpacked = join(root, "unpacked");
  const top = join(unpacked, `tq-broker-${version}-${machine}`);
  const bin = join(top, "tq-broker");

  beforeAll(async () => {
    mkdirSync(unpacked);
    await mustRun(["tar", "-xzf", join(releaseDir, archiveOf(machine)), "-C", unpacked], { cwd: unpacked });
    expect(Bun.which("bun", { PATH: emptyPath })).toBeNull();
    expect(Bun.which("node", { PATH: emptyPath })).toBeNull();
  });

  test("version names the version and this platform", async () => {
    const r = await runCli(["version", "--json"], { cwd: top, bin, env: isolatedEnv });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toMatchObject({ name: "tq-broker", version, build: "compiled", platform: machine });
    const text = await runCli(["version"], { cwd: top, bin, env: isolatedEnv });
    expect(text.stdout).toStartWith(`tq-broker ${version} (compiled, commit `);
    expect(text.stdout.trim()).toEndWith(`, ${machine})`);
  });

  test("config check passes on the shipped config/broker.yaml", async () => {
    expect(await runCli(["config", "check", "config/broker.yaml"], { cwd: top, bin, env: isolatedEnv })).toEqual({ exitCode: 0, stdout: "config/broker.yaml: ok\n", stderr: "" });
  });

  test("serve with the shipped config takes a task, and SIGTERM stops it with exit 0", async () => {
    const broker = spawnCli(["serve", "--config", "config/broker.yaml", "--port", "0", "--data-dir", "data"], { cwd: top, bin, env: isolatedEnv });
    await broker.waitForStdout('"key":"broker.port"');
    const port = /"key":"broker\.port","address":"[^"]*:(\d+)"/.exec(broker.stdout())?.[1];
    const client = new Client({ url: `tq://127.0.0.1:${port}`, reconnect: false });
    try {
      const { id } = await client.submit("release.check", { ok: true });
      expect((await client.status(id)).status).toBe("pending");
    } finally {
      await client.close();
    }
    expect(await broker.stop("SIGTERM")).toBe(0);
    expect(broker.stderr()).toBe("");
  });
});
