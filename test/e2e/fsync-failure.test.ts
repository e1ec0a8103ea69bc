// A failed fsync of the WAL (EIO) on a group commit (issue 19.6): the clients waiting on it are
// answered OutcomeUnknown (code 17: committed, maybe not durable) before the broker exits 1, never
// left with a closed connection and no answer. The fault comes from the store's seam
// (TQ_TEST_FAIL_AT=wal-fsync:<n>, src/store/sqlite/kill-points.ts) in a real broker process.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode } from "../../src/protocol/errors.ts";
import type { Response } from "../../src/protocol/messages.ts";
import { launchBroker, reap } from "../chaos/lib/broker-proc.ts";
import { listAll } from "../helpers/data-damage.ts";
import { RawConn } from "../helpers/raw-conn.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const task = (n: number) => ({ type: "t", queue: "q", payload: new TextEncoder().encode(`{"n":${n}}`), payloadIsJson: true });

test("the requests a failed WAL fsync covered are answered OutcomeUnknown, then the broker exits 1; what was acknowledged is there after a restart", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "tq-fsync-"));
  dirs.push(dataDir);
  // Sync full (the default): every acknowledged group waited for its own fsync; the third fails.
  const broker = launchBroker({ dataDir, env: { TQ_TEST_FAIL_AT: "wal-fsync:3" } });
  const acked: string[] = [];
  try {
    const port = await broker.listening();
    const a = await RawConn.connect(port);
    const b = await RawConn.connect(port);
    for (let n = 0; n < 2; n++) {
      const r = await a.call({ kind: "SubmitTask", task: task(n) });
      expect(r.kind).toBe("Submitted");
      if (r.kind === "Submitted") acked.push(r.id);
    }
    // Both connections wait on the group whose fsync fails (and any group after it).
    const ids = [...Array.from({ length: 5 }, (_, i) => a.send({ kind: "SubmitTask", task: task(10 + i) })).map((id) => [a, id] as const),
      ...Array.from({ length: 5 }, (_, i) => b.send({ kind: "SubmitTask", task: task(20 + i) })).map((id) => [b, id] as const)];
    const replies: Response[] = [];
    for (const [conn, id] of ids) replies.push(await conn.waitFor((r) => r.requestId === id, 10_000));
    const codes = replies.map((r) => (r.kind === "Error" ? r.code : r.kind));
    expect(codes.every((c) => c === ErrorCode.OutcomeUnknown || c === ErrorCode.ShuttingDown)).toBe(true);
    expect(codes.filter((c) => c === ErrorCode.OutcomeUnknown).length).toBeGreaterThan(0);
    const unknown = replies.find((r) => r.kind === "Error" && r.code === ErrorCode.OutcomeUnknown)!;
    expect(unknown).toMatchObject({ message: expect.stringMatching(/could not make it durable \(fsync of the WAL failed: EIO\); it may or may not be stored/) });
    // Every request waiting was answered; then the broker closes the connections and exits 1 (systemd restarts it).
    await a.waitClosed(10_000);
    expect(await broker.exited).toBe(1);
    expect(broker.output()).toMatch(/"level":"error","msg":"fsync of the write-ahead log failed: the requests it covered are answered OutcomeUnknown/);
    expect(broker.output()).toContain('"msg":"exiting after the failed fsync"');
  } finally {
    await reap(broker);
  }

  const again = launchBroker({ dataDir });
  try {
    const conn = await RawConn.connect(await again.listening());
    const stored = await listAll(conn);
    for (const id of acked) expect(stored.has(id)).toBe(true);
    conn.close();
    again.proc.kill("SIGTERM");
    expect(await again.exited).toBe(0);
  } finally {
    await reap(again);
  }
}, 60_000);
