// /readyz and a nearly full disk (issue 19.10): not ready once the data dir's file system has less
// free space than the reserve (minFreeBytes: 2% of it, at least 256 MiB), while writes still
// succeed; ready again once space is freed. A real broker on a real tmpfs the test mounts (root
// with mount permission; skipped otherwise), and the threshold itself through the statfs seam.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lowDiskSpace, minFreeBytes } from "../../src/store/data-dir.ts";
import { launchBroker, reap } from "../chaos/lib/broker-proc.ts";
import { cleanupMounts, mountProbe, mountTmpfs } from "../chaos/lib/storage-faults.ts";
import { RawConn } from "../helpers/raw-conn.ts";

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
afterAll(() => cleanupMounts());
const probe = mountProbe();
if (!probe.ok) process.stdout.write(`readyz disk test on a tmpfs skipped: ${probe.reason}\n`);

describe("the reserve", () => {
  test("2% of the file system, at least 256 MiB (or 2 x max_wal_bytes), at most 4 GiB", () => {
    expect(minFreeBytes(8 * MIB, 64 * MIB)).toBe(256 * MIB);
    expect(minFreeBytes(100 * GIB, 64 * MIB)).toBe(2 * GIB);
    expect(minFreeBytes(10_000 * GIB, 64 * MIB)).toBe(4 * GIB);
    expect(minFreeBytes(10 * GIB, 512 * MIB)).toBe(1 * GIB);
    expect(minFreeBytes(10_000 * GIB, 4 * GIB)).toBe(8 * GIB);
  });

  test("through the statfs seam: enough space is ready, less than the reserve says why, an unreadable file system is not ready", async () => {
    const space = (availableBytes: number, totalBytes: number) => async () => ({ availableBytes, totalBytes });
    expect(await lowDiskSpace("/data", 64 * MIB, space(300 * MIB, 1 * GIB))).toBeNull();
    expect(await lowDiskSpace("/data", 64 * MIB, space(200 * MIB, 1 * GIB))).toMatch(
      /nearly full: 200\.0 MiB free of 1024\.0 MiB at \/data, under the 256\.0 MiB the broker keeps in reserve/,
    );
    expect(await lowDiskSpace("/data", 64 * MIB, space(1.5 * GIB, 100 * GIB))).toMatch(/under the 2048\.0 MiB/);
    const failing = async () => {
      throw Object.assign(new Error("gone"), { code: "ENOENT" });
    };
    expect(await lowDiskSpace("/data", 64 * MIB, failing)).toContain("cannot read the free space of /data");
  });
});

test.skipIf(!probe.ok)("a real broker on a 300 MiB tmpfs: ready, then 503 naming the disk while writes still succeed, then ready once space is freed", async () => {
  const mount = mountTmpfs(300);
  if ("skip" in mount) throw new Error(mount.skip);
  const dataDir = join(mount.dir, "data");
  mkdirSync(dataDir);
  const broker = launchBroker({ dataDir });
  try {
    const port = await broker.listening();
    const url = /"msg":"REST API listening".*?"url":"(http:\/\/[^"]+)"/.exec(broker.output())?.[1];
    expect(url).toBeDefined();
    const readyz = async () => {
      const r = await fetch(`${url}/readyz`);
      return { status: r.status, body: (await r.json()) as { status: string; checks: Record<string, { ok: boolean; error?: string }> } };
    };
    const before = await readyz();
    expect(before).toEqual({ status: 200, body: { status: "ready", checks: { store: { ok: true }, disk: { ok: true }, "broker.port": { ok: true }, "api.grpc_port": { ok: true } } } });

    // Leave about 200 MiB free: under the 256 MiB reserve, far from full.
    const s = statfsSync(mount.dir);
    const filler = join(mount.dir, "filler");
    writeFileSync(filler, new Uint8Array(Math.max(0, s.bavail * s.bsize - 200 * MIB)));
    const full = await readyz();
    expect(full.status).toBe(503);
    expect(full.body.status).toBe("not_ready");
    expect(full.body.checks.disk!.ok).toBe(false);
    expect(full.body.checks.disk!.error).toMatch(/nearly full: (19\d|200)\.\d MiB free of 300\.0 MiB .* under the 256\.0 MiB/);
    expect(full.body.checks.store).toEqual({ ok: true });
    const conn = await RawConn.connect(port);
    expect((await conn.call({ kind: "SubmitTask", task: { type: "t", queue: "q", payload: new Uint8Array(10), payloadIsJson: false } })).kind).toBe("Submitted");
    conn.close();

    rmSync(filler);
    expect((await readyz()).status).toBe(200);
    broker.proc.kill("SIGTERM");
    expect(await broker.exited).toBe(0);
  } finally {
    await reap(broker);
  }
}, 60_000);
