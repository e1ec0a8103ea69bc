// beanstalkd for the peer bench: installs the Debian package when it is missing (as root), starts a
// private beanstalkd on a free loopback port with its binlog in a fresh temp dir (or none), checks
// that the server answering is the process it started, and stops it by PID. Measures nothing.

import type { Subprocess } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drainLines } from "../../src/bench/stream-lines.ts";
import { BeanstalkConn } from "./beanstalk-conn.ts";

/** beanstalkd's own default job size limit; the bench raises -z only for bigger payloads. */
const DEFAULT_MAX_JOB_BYTES = 65_535;
const START_DEADLINE_MS = 10_000;
const STOP_DEADLINE_MS = 10_000;
/** A port picked free can be taken before beanstalkd binds it: try a new one this often. */
const START_ATTEMPTS = 5;
const CONNECT_RETRY_MS = 10;
const OUTPUT_TAIL_CHARS = 4000;
/** apt-get on a machine without a network can hang for minutes: it is given this long. */
const APT_DEADLINE_MS = 300_000;

/** -f MS (fsync at most once every MS ms; 0 = after every write) or -F (never). */
export type BinlogFsync = { everyMs: number } | "never";

export interface BeanstalkdOptions {
  /** With a write-ahead log (-b DIR) in a fresh temp dir, fsynced as given; null = no binlog. */
  binlog: { fsync: BinlogFsync } | null;
  /** Largest job body the bench puts. */
  maxJobBytes: number;
}

export interface RunningBeanstalkd {
  readonly pid: number;
  readonly host: string;
  readonly port: number;
  /** The argv it runs with, for the report. */
  readonly argv: readonly string[];
  /** SIGTERM by PID (SIGKILL past a deadline), wait for the exit, delete the binlog dir. */
  stop(): Promise<number | null>;
}

export interface Installed {
  path: string;
  /** `beanstalkd -v`, e.g. "beanstalkd 1.12". */
  version: string;
}

let aptUpdated = false;

/**
 * The beanstalkd binary, installed from the Debian package when missing: `apt-get update` (once
 * per process) and `apt-get install -y beanstalkd`, which needs root. Throws saying what to do
 * when it cannot. The package's own service (port 11300) is never used: the bench runs its own.
 */
export async function ensureBeanstalkd(log: (line: string) => void): Promise<Installed> {
  let path = Bun.which("beanstalkd");
  if (path === null) {
    if (process.getuid?.() !== 0) throw new Error("beanstalkd is not installed, and installing it needs root: run `apt-get install beanstalkd` first");
    if (Bun.which("apt-get") === null) throw new Error("beanstalkd is not installed and there is no apt-get here to install it with");
    if (!aptUpdated) {
      log("installing beanstalkd: apt-get update");
      await run(["apt-get", "update"], APT_DEADLINE_MS);
      aptUpdated = true;
    }
    log("installing beanstalkd: apt-get install -y beanstalkd");
    // Waits for a dpkg lock held by another install rather than failing at once.
    await run(["apt-get", "-o", "DPkg::Lock::Timeout=120", "install", "-y", "beanstalkd"], APT_DEADLINE_MS);
    path = Bun.which("beanstalkd");
    if (path === null) throw new Error("apt-get installed beanstalkd, yet no beanstalkd is on PATH");
  }
  const version = (await run([path, "-v"], START_DEADLINE_MS)).trim();
  return { path, version };
}

/** Runs a command to its end (killed past the deadline); throws with its output's tail when it fails. */
async function run(argv: readonly string[], deadlineMs: number): Promise<string> {
  const proc = Bun.spawn([...argv], { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), deadlineMs);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited with ${code}: ${(out + err).slice(-OUTPUT_TAIL_CHARS)}`);
  return out;
}

/** The argv for one server: loopback only, the given port, binlog flags as asked. */
export function beanstalkdArgv(binary: string, port: number, opts: BeanstalkdOptions, binlogDir: string | null): string[] {
  const argv = [binary, "-l", "127.0.0.1", "-p", String(port)];
  if (opts.maxJobBytes > DEFAULT_MAX_JOB_BYTES) argv.push("-z", String(opts.maxJobBytes));
  if (opts.binlog !== null && binlogDir !== null) {
    argv.push("-b", binlogDir);
    argv.push(...(opts.binlog.fsync === "never" ? ["-F"] : ["-f", String(opts.binlog.fsync.everyMs)]));
  }
  return argv;
}

/** A loopback port the kernel just handed out for port 0 (free now; the caller retries if taken). */
function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

export async function startBeanstalkd(binary: string, opts: BeanstalkdOptions): Promise<RunningBeanstalkd> {
  let lastError: unknown = null;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(binary, opts);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

async function startOnce(binary: string, opts: BeanstalkdOptions): Promise<RunningBeanstalkd> {
  const dir = opts.binlog === null ? null : mkdtempSync(join(tmpdir(), "tq-peers-beanstalkd-"));
  const port = freePort();
  const argv = beanstalkdArgv(binary, port, opts, dir);
  // setpriv makes the kernel kill beanstalkd if this process dies unannounced (it execs, so the
  // PID stays beanstalkd's); Bun's --no-orphans covers the bench's own children, not this C one.
  const guard = Bun.which("setpriv") === null ? [] : ["setpriv", "--pdeathsig", "KILL", "--"];
  const proc = Bun.spawn([...guard, ...argv], { cwd: dir ?? tmpdir(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let output = "";
  const keep = (line: string): void => {
    output = `${output}${line}\n`.slice(-OUTPUT_TAIL_CHARS);
  };
  void drainLines(proc.stdout, keep);
  void drainLines(proc.stderr, keep);
  let stopping: Promise<number | null> | null = null;
  const stop = (): Promise<number | null> =>
    (stopping ??= (async () => {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_DEADLINE_MS);
      const code = await proc.exited;
      clearTimeout(timer);
      if (dir !== null) rmSync(dir, { recursive: true, force: true });
      return code;
    })());
  try {
    await untilServing(proc, port);
  } catch (err) {
    await stop();
    throw new Error(`${argv.join(" ")}: ${err instanceof Error ? err.message : String(err)}${output === "" ? "" : `; its output:\n${output}`}`);
  }
  return { pid: proc.pid, host: "127.0.0.1", port, argv, stop };
}

/** Connects until the server answers `stats` with this process's pid (not some other server on the port). */
async function untilServing(proc: Subprocess, port: number): Promise<void> {
  const startMs = performance.now();
  while (performance.now() - startMs < START_DEADLINE_MS) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`exited (${proc.exitCode ?? proc.signalCode}) before serving`);
    let conn: BeanstalkConn | null = null;
    try {
      conn = await BeanstalkConn.open("127.0.0.1", port);
      const pid = Number((await conn.stats()).pid);
      if (pid !== proc.pid) throw new Error(`port ${port} is served by pid ${pid}, not by the beanstalkd started (${proc.pid})`);
      return;
    } catch (err) {
      if (err instanceof Error && err.message.includes("is served by")) throw err;
      await Bun.sleep(CONNECT_RETRY_MS);
    } finally {
      conn?.close();
    }
  }
  throw new Error(`not serving within ${START_DEADLINE_MS} ms`);
}
