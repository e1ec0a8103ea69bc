// `tq-broker serve` as a real process on loopback port 0 in a temp dir: clean shutdown on
// SIGTERM/SIGINT, the data-dir lock (second broker refused, stale lock taken over, unwritable
// dir), and a port in use named with its config key. Also openDataDir directly.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataDirError, LOCK_FILE_NAME, openDataDir } from "../../../src/store/data-dir.ts";
import { runCli, spawnCli } from "../../helpers/cli.ts";

const root = mkdtempSync(join(tmpdir(), "tq-serve-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function freshDir(): string {
  const dir = join(root, `run${n++}`);
  mkdirSync(dir);
  return dir;
}

/** Every listener on loopback and port 0: tests never take a fixed port or a public address. */
const LOOPBACK_ENV = {
  TQ_BROKER_HOST: "127.0.0.1",
  TQ_API_REST_PORT: "0", TQ_API_GRPC_PORT: "0",
  TQ_MONITORING_PROMETHEUS_PORT: "0",
  TQ_MONITORING_JSON_LOGGING: "true",
};
const STARTED = '"msg":"tq-broker started"';

/** A pid that surely belongs to no running process: one that has just exited. */
async function deadPid(): Promise<number> {
  const proc = Bun.spawn([process.execPath, "-e", ""], { stdout: "ignore", stderr: "ignore" });
  await proc.exited;
  return proc.pid;
}

describe("serve", () => {
  test("SIGTERM stops it cleanly: exit 0, lock removed, where it listens and keeps data logged", async () => {
    const cwd = freshDir();
    const broker = spawnCli(["serve", "--port", "0"], { cwd, env: LOOPBACK_ENV });
    await broker.waitForStdout(STARTED);
    expect(readFileSync(join(cwd, "data", LOCK_FILE_NAME), "utf8")).toBe(`${broker.proc.pid}\n`);
    const started = broker
      .stdout()
      .split("\n")
      .filter((l) => l.includes(STARTED))
      .map((l) => JSON.parse(l) as { data_dir: string })[0];
    expect(started?.data_dir).toBe(join(cwd, "data"));
    expect(await broker.stop("SIGTERM")).toBe(0);
    expect(broker.stdout()).toContain('"msg":"stopped","reason":"SIGTERM"');
    expect(existsSync(join(cwd, "data", LOCK_FILE_NAME))).toBe(false);
  });

  test("SIGINT (Ctrl-C) stops it cleanly too", async () => {
    const cwd = freshDir();
    const broker = spawnCli(["serve", "--port", "0", "--data-dir", "d"], { cwd, env: LOOPBACK_ENV });
    await broker.waitForStdout(STARTED);
    expect(await broker.stop("SIGINT")).toBe(0);
    expect(existsSync(join(cwd, "d", LOCK_FILE_NAME))).toBe(false);
  });

  test("a second broker on the same data dir is refused with the dir and the other pid, exit 1", async () => {
    const cwd = freshDir();
    const first = spawnCli(["serve", "--port", "0"], { cwd, env: LOOPBACK_ENV });
    try {
      await first.waitForStdout(STARTED);
      const second = await runCli(["serve", "--port", "0"], { cwd, env: LOOPBACK_ENV });
      expect(second.exitCode).toBe(1);
      expect(second.stderr).toBe(
        `tq-broker: data dir ${join(cwd, "data")} is in use by another tq-broker (pid ${first.proc.pid}); stop it or use another persistence.data_dir\n`,
      );
    } finally {
      expect(await first.stop()).toBe(0);
    }
  });

  test("a stale lock from a dead pid is taken over", async () => {
    const cwd = freshDir();
    mkdirSync(join(cwd, "data"));
    writeFileSync(join(cwd, "data", LOCK_FILE_NAME), `${await deadPid()}\n`);
    const broker = spawnCli(["serve", "--port", "0"], { cwd, env: LOOPBACK_ENV });
    await broker.waitForStdout(STARTED);
    expect(readFileSync(join(cwd, "data", LOCK_FILE_NAME), "utf8")).toBe(`${broker.proc.pid}\n`);
    expect(await broker.stop()).toBe(0);
  });

  test("a data dir that cannot be created is named, exit 1", async () => {
    const cwd = freshDir();
    writeFileSync(join(cwd, "file"), "not a dir");
    const r = await runCli(["serve", "--port", "0", "--data-dir", "file/data"], { cwd, env: LOOPBACK_ENV });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`tq-broker: cannot create data dir ${join(cwd, "file/data")}: a part of the path is a file, not a directory\n`);
  });

  test("a port in use is named with the key that sets it, exit 1", async () => {
    const cwd = freshDir();
    const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = await runCli(["serve", "--port", String(taken.port)], { cwd, env: LOOPBACK_ENV });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${taken.port} (set by broker.port): the port is already in use by another process`);
      // The refused broker released the data dir on its way out.
      expect(existsSync(join(cwd, "data", LOCK_FILE_NAME))).toBe(false);
    } finally {
      taken.stop(true);
    }
  });
});

describe("openDataDir", () => {
  test("creates the dir, writes our pid, releases only our own lock", () => {
    const dir = join(freshDir(), "a", "b");
    const opened = openDataDir(dir, { pid: 4242, isAlive: () => true });
    expect(opened.path).toBe(dir);
    expect(readFileSync(opened.lockFile, "utf8")).toBe("4242\n");
    opened.release();
    expect(existsSync(opened.lockFile)).toBe(false);
    opened.release();
  });

  test("a live holder is refused, with its pid on the error", () => {
    const dir = freshDir();
    writeFileSync(join(dir, LOCK_FILE_NAME), "777\n");
    let caught: unknown;
    try {
      openDataDir(dir, { pid: 1000, isAlive: (pid) => pid === 777 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DataDirError);
    expect((caught as DataDirError).otherPid).toBe(777);
    expect((caught as DataDirError).dir).toBe(dir);
    expect(readFileSync(join(dir, LOCK_FILE_NAME), "utf8")).toBe("777\n");
  });

  test("dead holder, garbled lock and our own pid (pid reuse after a restart) are stale", () => {
    for (const content of ["777\n", "garbage", "", "1000\n"]) {
      const dir = freshDir();
      writeFileSync(join(dir, LOCK_FILE_NAME), content);
      const opened = openDataDir(dir, { pid: 1000, isAlive: () => content !== "777\n" });
      expect(readFileSync(opened.lockFile, "utf8")).toBe("1000\n");
      opened.release();
    }
  });

  test("the same dir twice in one process is refused", () => {
    const dir = freshDir();
    const opened = openDataDir(dir);
    try {
      expect(() => openDataDir(dir)).toThrow(`data dir ${dir} is already open in this process`);
    } finally {
      opened.release();
    }
  });

  test("release leaves a lock another process has since taken", () => {
    const dir = freshDir();
    const opened = openDataDir(dir, { pid: 1000 });
    writeFileSync(opened.lockFile, "2000\n");
    opened.release();
    expect(readFileSync(opened.lockFile, "utf8")).toBe("2000\n");
  });
});

describe("serve logging", () => {
  test("at debug level the effective config is logged with API keys masked", async () => {
    const cwd = freshDir();
    const secret = "never-log-this-key-0123";
    const env = {
      ...LOOPBACK_ENV,
      TQ_MONITORING_LOG_LEVEL: "debug",
      TQ_AUTH_API_KEYS: JSON.stringify([{ name: "a", role: "admin", key: secret }]),
    };
    const broker = spawnCli(["serve", "--port", "0"], { cwd, env });
    await broker.waitForStdout(STARTED);
    expect(await broker.stop()).toBe(0);
    expect(broker.stdout()).toContain('"msg":"effective config"');
    expect(broker.stdout()).toContain('"key":"***"');
    expect(broker.stdout()).not.toContain(secret);
  });
});
