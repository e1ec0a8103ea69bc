// The TQ_TEST_KILL_AT seam: a child process armed for a point dies by SIGKILL exactly when it
// reaches that point the n-th time, and a bad spec is refused with a message naming the points.

import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const STORE = join(import.meta.dir, "../../../src/store/sqlite/sqlite-store.ts");

/** A child that opens a store, submits `groups` groups one after another, and prints each ack. */
function child(dir: string, groups: number): string {
  return `
    import { openSqliteStore } from ${JSON.stringify(STORE)};
    const store = openSqliteStore({ path: ${JSON.stringify(join(dir, "t.db"))} });
    console.log("pending " + (await store.pendingCount()));
    for (let i = 1; i <= ${groups}; i++) {
      await store.submit([{ type: "t", queue: "default", payload: new Uint8Array(1), payloadIsJson: false, priority: 100, runAtMs: null, maxRetries: 3, leaseMs: 30000, idempotencyKey: null }], Date.now());
      console.log("acked " + i);
    }
    await store.close();
    console.log("closed");
  `;
}

function run(dir: string, groups: number, killAt: string | undefined): { exitCode: number | null; signal: string | null; out: string; err: string } {
  const proc = Bun.spawnSync([process.execPath, "-e", child(dir, groups)], {
    env: { ...process.env, TQ_TEST_KILL_AT: killAt ?? "" },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { exitCode: proc.exitCode, signal: proc.signalCode === undefined || proc.signalCode === null ? null : String(proc.signalCode), out: proc.stdout.toString(), err: proc.stderr.toString() };
}

test("after-commit:3 kills the process at its third commit, before that group is acknowledged", () => {
  const dir = mkdtempSync(join(tmpdir(), "tq-kill-"));
  try {
    const r = run(dir, 5, "after-commit:3");
    expect(r.signal).toBe("SIGKILL");
    expect(r.out.trim().split("\n")).toEqual(["pending 0", "acked 1", "acked 2"]);
    // The third group was committed (never acknowledged): a normal open finds three tasks.
    expect(run(dir, 0, undefined).out.trim().split("\n")).toEqual(["pending 3", "closed"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("unarmed, the same child runs to the end; a bad spec is refused by name", () => {
  const dir = mkdtempSync(join(tmpdir(), "tq-kill-"));
  try {
    expect(run(dir, 3, undefined).out.trim().split("\n")).toEqual(["pending 0", "acked 1", "acked 2", "acked 3", "closed"]);
    const bad = run(dir, 1, "after-lunch:1");
    expect(bad.exitCode).not.toBe(0);
    expect(bad.err).toContain("TQ_TEST_KILL_AT");
    expect(bad.err).toContain("after-commit");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
