// The tests of scenario 4 (storage faults), defined once for both tiers (the scenario is the same
// in both; scenarios.ts runs it in each).

import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { printSummary, recordRow } from "./summary.ts";
import {
  cleanupMounts,
  diskFull,
  makeDatabase,
  mountProbe,
  mountTmpfs,
  startAsNobodyOnPrivateDir,
  startOnCorruptedDb,
  startOnFileAsDataDir,
  startOnReadOnlyMount,
  type StartRefusal,
} from "./storage-faults.ts";

function refusalRow(name: string, r: StartRefusal, pass: boolean): void {
  recordRow({ test: `storage/${name}`, operations: 1, lost: 0, unexpected: 0, duplicates: 0, crashes: 0, pass, note: `exit ${r.exitCode}; started ${r.started}` });
}

export function defineStorageTests(): void {
  afterAll(() => {
    cleanupMounts();
    printSummary();
  });
  const probe = mountProbe();
  if (!probe.ok) process.stdout.write(`storage faults: disk-full and read-only-mount tests skipped: ${probe.reason}\n`);

  describe("storage faults", () => {
    test.skipIf(!probe.ok)("disk full (8 MiB tmpfs): StorageUnavailable, never a false OK; recovers without a restart; nothing acked lost", async () => {
      const mount = mountTmpfs(8);
      if ("skip" in mount) throw new Error(mount.skip);
      const r = await diskFull(mount.dir);
      const otherCodes = Object.keys(r.errorCodes).filter((c) => c !== "13");
      const pass =
        r.submitsAcked > 0 && (r.errorCodes[13] ?? 0) > 0 && otherCodes.length === 0 && r.recovered && r.servedWhileFull && r.lostAfterRestart.length === 0 && r.falseFailures.length === 0 && r.brokerExits.every((c) => c === 0) &&
        (r.startWhileFull === "started" || /^exit 1: .*no space left on device/.test(r.startWhileFull));
      recordRow({
        test: "storage/disk-full",
        operations: r.submitsAcked + Object.values(r.errorCodes).reduce((a, b) => a + b, 0) + r.attemptsToRecover,
        lost: r.lostAfterRestart.length,
        unexpected: r.falseFailures.length + r.otherErrors.length,
        duplicates: 0,
        crashes: r.brokerExits.filter((c) => c !== 0).length,
        pass,
        note: `acked ${r.submitsAcked}; errors ${JSON.stringify(r.errorCodes)}; recovered after ${r.attemptsToRecover} attempts; start while full: ${r.startWhileFull}`,
      });
      expect(r.submitsAcked).toBeGreaterThan(0);
      expect(r.otherErrors).toEqual([]);
      expect(r.errorCodes[13] ?? 0).toBeGreaterThan(0);
      expect(r.retryableHint).toBe(true);
      expect(r.servedWhileFull).toBe(true);
      expect(r.recovered).toBe(true);
      expect(r.lostAfterRestart).toEqual([]);
      expect(r.falseFailures).toEqual([]);
      expect(r.brokerExits).toEqual([0, 0]);
      expect(r.startWhileFull === "started" || /^exit 1: .*no space left on device/.test(r.startWhileFull)).toBe(true);
    }, 120_000);

    test("a corrupt database (garbage over pages 2-5) is refused: exit 65, a message naming the file, no listener", async () => {
      const dataDir = await makeDatabase(300);
      try {
        const r = await startOnCorruptedDb(dataDir, 4096, 4 * 4096);
        const pass = r.exitCode === 65 && !r.started && r.output.includes("tq.db");
        refusalRow("corrupt-pages", r, pass);
        expect(r.started).toBe(false);
        expect(r.exitCode).toBe(65);
        expect(r.output).toContain("tq.db");
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }, 60_000);

    test("a database file whose header is garbage is refused with exit 65", async () => {
      const dataDir = await makeDatabase(100);
      try {
        const r = await startOnCorruptedDb(dataDir, 0, 100);
        refusalRow("corrupt-header", r, r.exitCode === 65 && !r.started);
        expect(r.started).toBe(false);
        expect(r.exitCode).toBe(65);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }, 60_000);

    test("a regular file where the data dir should be: exit 1 and a message naming the path", async () => {
      const r = await startOnFileAsDataDir();
      refusalRow("file-as-data-dir", r, r.exitCode === 1 && !r.started && r.output.includes(r.path));
      expect(r.started).toBe(false);
      expect(r.exitCode).toBe(1);
      expect(r.output).toContain(r.path);
    }, 30_000);

    test.skipIf(!probe.ok)("a read-only data dir (read-only bind mount): exit 1 and a message naming the path", async () => {
      const r = await startOnReadOnlyMount();
      if ("skip" in r) throw new Error(r.skip);
      refusalRow("read-only-mount", r, r.exitCode === 1 && !r.started && r.output.includes(r.path));
      expect(r.started).toBe(false);
      expect(r.exitCode).toBe(1);
      expect(r.output).toContain(r.path);
    }, 30_000);

    test("a data dir the broker's user may not write (root-owned 0700, broker run as nobody): exit 1, message naming the path", async () => {
      const r = await startAsNobodyOnPrivateDir();
      if ("skip" in r) {
        process.stdout.write(`storage faults: permission test skipped: ${r.skip}\n`);
        return;
      }
      refusalRow("no-permission", r, r.exitCode === 1 && !r.started && r.output.includes(r.path));
      expect(r.started).toBe(false);
      expect(r.exitCode).toBe(1);
      expect(r.output).toContain(r.path);
    }, 30_000);
  });
}
