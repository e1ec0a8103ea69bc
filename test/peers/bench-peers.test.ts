// The peer bench end to end through its real entry (bench/peers/run-peers.ts): a tiny run (2,000
// tasks, W1-W3, one round) of tq-broker's own `bench --spawn --json` and of a private beanstalkd
// with and without its binlog (skipped loudly when beanstalkd cannot be had). Asserts counts,
// shapes and clean-up, never figures.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TARGETS } from "../../bench/peers/peer-run.ts";
import type { PeersSummary } from "../../bench/peers/peers-report.ts";
import { findBeanstalkd, warnSkipped } from "../helpers/beanstalkd.ts";
import { REPO_ROOT } from "../helpers/cli.ts";

const found = await findBeanstalkd();
warnSkipped("the peer bench end-to-end test", found);
const ENTRY = join(REPO_ROOT, "bench/peers/run-peers.ts");

async function runPeers(args: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("TQ_")) clean[k] = v;
  const proc = Bun.spawn([process.execPath, ENTRY, ...args], { cwd: REPO_ROOT, env: { ...clean, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { exitCode, stdout, stderr };
}

describe("bench:peers", () => {
  test.skipIf(found.path === null)(
    "2,000 tasks of W1-W3 on tq-broker and beanstalkd (binlog, none): every task counted, W2/W3 exactly once on all three, ratios per workload, nothing left behind",
    async () => {
      // Every temp dir the run makes (tq-broker's data dirs, beanstalkd's binlog dirs) lands here.
      const tmp = mkdtempSync(join(tmpdir(), "tq-peers-test-"));
      try {
        // After `--`: handed to tq-broker bench as is; its own report then says it ran with it.
        const r = await runPeers(["-n", "2000", "--workload", "W1,W2,W3", "--runs", "1", "--warmup", "300", "--json", "--", "--sync", "interval"], { TMPDIR: tmp }, 90_000);
        expect(r.exitCode).toBe(0);
        const s = JSON.parse(r.stdout) as PeersSummary;
        expect(s.beanstalkd.version).toMatch(/^beanstalkd \d+\.\d+/);
        expect(s.beanstalkd.binlog).toBe("-b DIR -f 50");
        expect(s.parameters).toMatchObject({ n: 2000, payloadBytes: 100, producers: 1, concurrency: 4, batch: 100, runs: 1, tqArgs: ["--sync", "interval"] });
        expect(s.workloads.map((w) => w.workload)).toEqual(["W1", "W2", "W3"]);
        for (const w of s.workloads) {
          expect(w.tqSync).toBe("interval");
          for (const t of TARGETS) {
            const x = w.targets[t];
            expect({ workload: w.workload, target: t, runs: x.runs, tasks: x.tasks, warmedUp: x.warmedUp, errors: x.errors }).toEqual({ workload: w.workload, target: t, runs: 1, tasks: 2000, warmedUp: 300, errors: {} });
            expect(x.exactlyOnce).toBe(w.workload === "W1" ? null : true);
            expect(x.tasksPerSec.median).toBeGreaterThan(0);
            // Server CPU read from /proc/PID/stat of each server process.
            expect(x.cpuUsPerTask).not.toBeNull();
            expect(x.peakRssMiB!.median).toBeGreaterThan(0);
          }
          expect(w.ratios.map((q) => q.figure)).toEqual(["tasks/s", "server CPU µs/task"]);
          const throughput = w.ratios[0]!;
          expect(throughput.vsBinlog.median).toBeCloseTo(w.targets["tq-broker"].tasksPerSec.median / w.targets["beanstalkd-binlog"].tasksPerSec.median, 6);
          expect(throughput.vsNoBinlog.median).toBeCloseTo(w.targets["tq-broker"].tasksPerSec.median / w.targets["beanstalkd-nobinlog"].tasksPerSec.median, 6);
        }
        // Interleaved: for each workload, tq-broker, then beanstalkd with binlog, then without.
        const order = r.stderr.split("\n").filter((l) => l.includes(" round "));
        expect(order.map((l) => l.split(":")[0])).toEqual(
          ["W1", "W2", "W3"].flatMap((w) => TARGETS.map((t) => `${w} round 1/1 ${t}`)),
        );
        // Servers stopped and their dirs deleted.
        expect(readdirSync(tmp)).toEqual([]);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    },
    100_000,
  );

  test("a bad option is a usage error (exit 64) naming it, before anything is started", async () => {
    const r = await runPeers(["--binlog-fsync", "sometimes"], {}, 20_000);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain("--binlog-fsync");
    expect(r.stderr).toContain("sometimes");
    const unknown = await runPeers(["--raw"], {}, 20_000);
    expect(unknown.exitCode).toBe(64);
    expect(unknown.stderr).toContain("unknown option --raw");
  });
});
