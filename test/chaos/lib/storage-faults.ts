// Scenario 4: storage faults under the real broker (child process): a full disk (a small tmpfs the
// test mounts; needs root and mount permission), a corrupt database file, an unusable data dir.
// Mounts and unmounts only what it created; callers unmount in afterAll through `cleanup`.

import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, rmSync, unlinkSync, writeFileSync, writeSync, closeSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RawConn } from "../../helpers/raw-conn.ts";
import { launchBroker, reap, type LaunchedBroker } from "./broker-proc.ts";
import { keyOf, readAll } from "./queue-load.ts";
import { seededRandom } from "./tier.ts";

const DB_FILE = "tq.db";

/** Mount points this module created, for cleanup. */
const mounts: string[] = [];

function run(cmd: string[]): { ok: boolean; text: string } {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: "utf8" });
  return { ok: r.status === 0, text: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

/** Mounts a tmpfs of `sizeMiB`; returns the dir, or the reason it could not. */
export function mountTmpfs(sizeMiB: number): { dir: string } | { skip: string } {
  const dir = mkdtempSync(join(tmpdir(), "tq-chaos-tmpfs-"));
  const r = run(["mount", "-t", "tmpfs", "-o", `size=${sizeMiB}m`, "tmpfs", dir]);
  if (!r.ok) {
    rmSync(dir, { recursive: true, force: true });
    return { skip: `cannot mount a tmpfs (${r.text.trim() || "mount failed"}); run as root with mount permission` };
  }
  mounts.push(dir);
  return { dir };
}

/** Unmounts and removes every mount this module made (bind or tmpfs). */
export function cleanupMounts(): void {
  for (const dir of mounts.splice(0).reverse()) {
    run(["umount", "-l", dir]);
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface DiskFullReport {
  submitsAcked: number;
  /** Error codes answered while the disk was full, by code. */
  errorCodes: Record<number, number>;
  /** Error frames that were not StorageUnavailable, described. */
  otherErrors: string[];
  retryableHint: boolean;
  /** The broker answered a Ping and a QueryStatus while full. */
  servedWhileFull: boolean;
  /** Submits after the space was freed, on the same process, before one was acknowledged. */
  attemptsToRecover: number;
  recovered: boolean;
  /** After a restart: acked submits not found, and failed submits found (false failures). */
  lostAfterRestart: string[];
  falseFailures: string[];
  brokerExits: number[];
  /** Starting again while the disk is still nearly full: "started", or the exit code and message. */
  startWhileFull: string;
}

/** Fills a tmpfs data dir with 256 KiB submits until the store refuses, frees space, checks recovery and a restart. */
export async function diskFull(dir: string): Promise<DiskFullReport> {
  const report: DiskFullReport = {
    submitsAcked: 0,
    errorCodes: {},
    otherErrors: [],
    retryableHint: false,
    servedWhileFull: false,
    attemptsToRecover: 0,
    recovered: false,
    lostAfterRestart: [],
    falseFailures: [],
    brokerExits: [],
    startWhileFull: "",
  };
  const dataDir = join(dir, "data");
  mkdirSync(dataDir);
  const filler = join(dir, "filler");
  writeFileSync(filler, new Uint8Array(3 * 1024 * 1024));
  const random = seededRandom(7);
  let broker: LaunchedBroker | null = launchBroker({ dataDir, env: { TQ_PERSISTENCE_SYNC: "full" } });
  const acked = new Map<string, string>();
  const failed = new Set<string>();
  try {
    const port = await broker.listening();
    const conn = await RawConn.connect(port);
    const payload = (key: string, bytes: number): Uint8Array => {
      const body = new Uint8Array(bytes);
      for (let i = 0; i < bytes; i++) body[i] = 97 + Math.floor(random() * 26);
      return new TextEncoder().encode(JSON.stringify({ k: key, pad: new TextDecoder().decode(body) }));
    };
    // 8 MiB hold at most ~30 such tasks: 200 submits are far past full.
    for (let i = 0; i < 200; i++) {
      const key = `full-${i}`;
      const response = await conn.call({ kind: "SubmitTask", task: { type: "big", queue: "full", payload: payload(key, 256 * 1024), payloadIsJson: true } }, 20_000);
      if (response.kind === "Submitted") {
        acked.set(key, response.id);
        continue;
      }
      failed.add(key);
      if (response.kind === "Error") {
        report.errorCodes[response.code] = (report.errorCodes[response.code] ?? 0) + 1;
        if (response.code === 13) report.retryableHint = report.retryableHint || response.retryAfterMs > 0;
        else report.otherErrors.push(`${response.code}: ${response.message}`);
      } else report.otherErrors.push(response.kind);
      if ((report.errorCodes[13] ?? 0) >= 3) break;
    }
    report.submitsAcked = acked.size;
    const ping = await conn.call({ kind: "Ping" }).catch(() => null);
    const firstId = acked.values().next().value;
    const info = firstId === undefined ? null : await conn.call({ kind: "QueryStatus", id: firstId }).catch(() => null);
    report.servedWhileFull = ping?.kind === "Pong" && (firstId === undefined || info?.kind === "TaskInfo");

    unlinkSync(filler);
    for (let attempt = 1; attempt <= 50 && !report.recovered; attempt++) {
      report.attemptsToRecover = attempt;
      const key = `after-${attempt}`;
      const response = await conn.call({ kind: "SubmitTask", task: { type: "small", queue: "full", payload: payload(key, 512), payloadIsJson: true } }, 20_000);
      if (response.kind === "Submitted") {
        acked.set(key, response.id);
        report.recovered = true;
      } else {
        failed.add(key);
        await Bun.sleep(200);
      }
    }
    conn.close();
    broker.proc.kill("SIGTERM");
    report.brokerExits.push(await broker.exited);

    // A start on the still nearly full disk may refuse (the data-dir probe needs a few bytes) but
    // must say why; then the disk grows, as an operator would make room, and the data is checked.
    broker = launchBroker({ dataDir, env: { TQ_PERSISTENCE_SYNC: "full" } });
    try {
      await broker.listening();
      report.startWhileFull = "started";
      broker.proc.kill("SIGTERM");
      await broker.exited;
    } catch {
      report.startWhileFull = `exit ${await broker.exited}: ${broker.output().trim().split("\n").pop() ?? ""}`;
    }
    const grow = run(["mount", "-o", "remount,size=64m", dir]);
    if (!grow.ok) throw new Error(`cannot grow the tmpfs: ${grow.text}`);
    broker = launchBroker({ dataDir, env: { TQ_PERSISTENCE_SYNC: "full" } });
    const again = await RawConn.connect(await broker.listening());
    const stored = await readAll(again, "full");
    const storedIds = new Set(stored.map((t) => t.id));
    for (const [key, id] of acked) if (!storedIds.has(id)) report.lostAfterRestart.push(key);
    for (const t of stored) if (t.key !== null && failed.has(t.key)) report.falseFailures.push(t.key);
    again.close();
    broker.proc.kill("SIGTERM");
    report.brokerExits.push(await broker.exited);
    broker = null;
  } finally {
    await reap(broker);
  }
  return report;
}

export interface StartRefusal {
  exitCode: number;
  output: string;
  /** It printed "listening": it started although it should not have. */
  started: boolean;
}

async function startExpectingRefusal(options: Parameters<typeof launchBroker>[0]): Promise<StartRefusal> {
  const broker = launchBroker(options);
  const timer = setTimeout(() => broker.proc.kill("SIGKILL"), 20_000);
  const exitCode = await broker.exited;
  clearTimeout(timer);
  return { exitCode, output: broker.output(), started: broker.output().includes('"msg":"listening"') };
}

/** Makes a database with some tasks, stops the broker cleanly, and returns the data dir. */
export async function makeDatabase(tasks: number): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), "tq-chaos-db-"));
  const broker = launchBroker({ dataDir });
  try {
    const conn = await RawConn.connect(await broker.listening());
    const payload = new TextEncoder().encode(JSON.stringify({ pad: "x".repeat(1000) }));
    for (let i = 0; i < tasks; i += 100) {
      const r = await conn.call({ kind: "SubmitBatch", tasks: Array.from({ length: 100 }, () => ({ type: "t", queue: "q", payload, payloadIsJson: true })) });
      if (r.kind !== "SubmittedBatch") throw new Error(`setup submit answered ${r.kind}`);
    }
    conn.close();
    broker.proc.kill("SIGTERM");
    await broker.exited;
  } finally {
    await reap(broker);
  }
  return dataDir;
}

/** Overwrites `length` bytes at `offset` of the database file with seeded garbage, then starts the broker. */
export async function startOnCorruptedDb(dataDir: string, offset: number, length: number): Promise<StartRefusal> {
  const random = seededRandom(offset + length);
  const garbage = new Uint8Array(length).map(() => Math.floor(random() * 256));
  const fd = openSync(join(dataDir, DB_FILE), "r+");
  writeSync(fd, garbage, 0, length, offset);
  closeSync(fd);
  return startExpectingRefusal({ dataDir });
}

/** A regular file where the data dir should be. */
export async function startOnFileAsDataDir(): Promise<StartRefusal & { path: string }> {
  const parent = mkdtempSync(join(tmpdir(), "tq-chaos-notdir-"));
  const path = join(parent, "data");
  writeFileSync(path, "not a directory\n");
  try {
    return { ...(await startExpectingRefusal({ dataDir: path })), path };
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
}

/** A read-only bind mount as the data dir (root ignores permissions, not a read-only mount). */
export async function startOnReadOnlyMount(): Promise<(StartRefusal & { path: string }) | { skip: string }> {
  const dir = mkdtempSync(join(tmpdir(), "tq-chaos-ro-"));
  const bind = run(["mount", "--bind", dir, dir]);
  if (!bind.ok) {
    rmSync(dir, { recursive: true, force: true });
    return { skip: `cannot bind-mount (${bind.text.trim()})` };
  }
  mounts.push(dir);
  const ro = run(["mount", "-o", "remount,bind,ro", dir]);
  if (!ro.ok) return { skip: `cannot remount read-only (${ro.text.trim()})` };
  return { ...(await startExpectingRefusal({ dataDir: dir })), path: dir };
}

/** A root-owned 0700 data dir and the broker run as nobody (setpriv): no permission. */
export async function startAsNobodyOnPrivateDir(): Promise<(StartRefusal & { path: string }) | { skip: string }> {
  if (process.getuid?.() !== 0) return { skip: "not root: cannot switch to nobody" };
  if (!run(["setpriv", "--version"]).ok) return { skip: "setpriv is not installed" };
  const parent = mkdtempSync(join(tmpdir(), "tq-chaos-perm-"));
  chmodSync(parent, 0o755);
  const path = join(parent, "data");
  mkdirSync(path, { mode: 0o700 });
  chmodSync(path, 0o700);
  // nobody must be able to run bun and read the sources for the test to mean anything.
  const probe = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "--version"]);
  if (!probe.ok) {
    rmSync(parent, { recursive: true, force: true });
    return { skip: `nobody cannot run ${process.execPath} (${probe.text.trim()})` };
  }
  try {
    return { ...(await startExpectingRefusal({ dataDir: path, asUser: { uid: 65534, gid: 65534 } })), path };
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
}

/** Whether this process may mount a tmpfs (probed once with a 1 MiB mount); the reason if not. */
export function mountProbe(): { ok: true } | { ok: false; reason: string } {
  const probe = mountTmpfs(1);
  if ("skip" in probe) return { ok: false, reason: probe.skip };
  cleanupMounts();
  return { ok: true };
}
