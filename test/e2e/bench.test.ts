// `tq-broker bench` through the real CLI entry: a tiny run of every workload against a spawned
// broker proves the command works and that its counts add up (W2/W3: every submitted task
// completed exactly once, by id); --url against an in-process broker leaves nothing pending.
// Figures are printed by the bench, never asserted: only counts and shapes are.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { runCli } from "../helpers/cli.ts";

interface Line {
  workload: string;
  sync: string | null;
  consumer: "sdk" | "raw";
  concurrency: number;
  prefetch: number | "auto" | null;
  warmup: number;
  tasks: number;
  tasksPerSec: { median: number };
  latencyMs: { p50Ms: { median: number }; p99Ms: { median: number } } | null;
  broker: { peakRssMiB: { median: number }; cpuSecs: { median: number } } | null;
  exactlyOnce: boolean | null;
  checks: { submitted: number; completed: number; duplicates: number; missing: number; unknown: number }[];
  errors: Record<string, number>;
  perRun: { warmedUp: number; agentsWarm: boolean }[];
}

let cwd: string;

beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), "tq-bench-test-"));
});

afterAll(() => {
  rmSync(cwd, { recursive: true, force: true });
});

function parseLines(stdout: string): Map<string, Line> {
  const byWorkload = new Map<string, Line>();
  for (const text of stdout.trim().split("\n")) {
    const line = JSON.parse(text) as Line;
    byWorkload.set(line.workload, line);
  }
  return byWorkload;
}

describe("tq-broker bench", () => {
  test("--spawn runs W1-W4 (n = 1000) after a warm-up, and every task of the timed run is completed exactly once", async () => {
    const r = await runCli(["bench", "--spawn", "-n", "1000", "--batch", "50", "--rate", "200", "--seconds", "1", "--warmup", "300", "--json"], { cwd }, 60_000);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const lines = parseLines(r.stdout);
    expect([...lines.keys()]).toEqual(["W1", "W2", "W3", "W4"]);
    for (const line of lines.values()) {
      expect(line.warmup).toBe(300);
      // Ran on the broker of each run, before and apart from the timed tasks the checks count,
      // by the same agent processes that then ran the timed load.
      expect(line.perRun.map((run) => run.warmedUp)).toEqual([300]);
      expect(line.perRun.map((run) => run.agentsWarm)).toEqual([true]);
    }

    const w1 = lines.get("W1")!;
    expect(w1.tasks).toBe(1000);
    expect(w1.sync).toBe("full");
    expect(w1.tasksPerSec.median).toBeGreaterThan(0);
    expect(w1.broker!.peakRssMiB.median).toBeGreaterThan(0);

    for (const name of ["W2", "W3"]) {
      const line = lines.get(name)!;
      expect(line.exactlyOnce).toBe(true);
      expect(line.checks).toEqual([{ submitted: 1000, completed: 1000, duplicates: 0, missing: 0, unknown: 0, exactlyOnce: true }] as never);
      expect(line.errors).toEqual({});
    }

    const w4 = lines.get("W4")!;
    expect(w4.tasks).toBe(200);
    expect(w4.latencyMs!.p50Ms.median).toBeGreaterThan(0);
    expect(w4.latencyMs!.p99Ms.median).toBeGreaterThanOrEqual(w4.latencyMs!.p50Ms.median);
  }, 90_000);

  test("by default the tasks are consumed by the SDK Worker as `tq-broker worker` runs it, and the output says so; --raw says the raw claimer", async () => {
    const sdk = await runCli(["bench", "--spawn", "--workload", "W2", "-n", "500", "--warmup", "0", "--json"], { cwd }, 60_000);
    expect(sdk.exitCode).toBe(0);
    const w2 = parseLines(sdk.stdout).get("W2")!;
    expect(w2).toMatchObject({ consumer: "sdk", concurrency: 4, prefetch: "auto", exactlyOnce: true });
    const raw = await runCli(["bench", "--spawn", "--workload", "W2", "-n", "500", "--warmup", "0", "--raw", "--json"], { cwd }, 60_000);
    expect(raw.exitCode).toBe(0);
    expect(parseLines(raw.stdout).get("W2")).toMatchObject({ consumer: "raw", concurrency: 4, prefetch: null, exactlyOnce: true });
    const table = await runCli(["bench", "--spawn", "--workload", "W2", "-n", "200", "--warmup", "0"], { cwd }, 60_000);
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toContain("consumer: the SDK Worker as `tq-broker worker` runs it (concurrency 4, prefetch adaptive");
  }, 90_000);

  test("W4 runs on a fresh broker unless told to warm up: the default warm-up (100,000) is for W1-W3; given, W4 runs at most 20,000 of it", async () => {
    const fresh = await runCli(["bench", "--spawn", "--workload", "W4", "--rate", "200", "--seconds", "1", "--json"], { cwd }, 60_000);
    expect(fresh.stderr).toBe("");
    expect(fresh.exitCode).toBe(0);
    const w4 = parseLines(fresh.stdout).get("W4")!;
    expect(w4.warmup).toBe(0);
    expect(w4.perRun.map((run) => run.warmedUp)).toEqual([0]);
    expect(w4.tasks).toBe(200);
    const warmed = await runCli(["bench", "--spawn", "--workload", "W4", "--rate", "200", "--seconds", "1", "--warmup", "30000", "--json"], { cwd }, 60_000);
    expect(warmed.exitCode).toBe(0);
    expect(parseLines(warmed.stdout).get("W4")!.perRun.map((run) => run.warmedUp)).toEqual([20_000]);
  }, 90_000);

  describe("--url", () => {
    let broker: TestBroker;
    beforeAll(async () => {
      broker = await startBroker({ "broker.max_batch_claim": 100 });
    });
    afterAll(async () => {
      await broker.stop();
    });

    test("W1 and W2 against a running broker add up and leave no task pending", async () => {
      const r = await runCli(["bench", "--url", `tq://127.0.0.1:${broker.port}`, "--workload", "W1,W2", "-n", "1000", "--batch", "100", "--json"], { cwd }, 60_000);
      expect(r.exitCode).toBe(0);
      const lines = parseLines(r.stdout);
      expect(lines.get("W1")!.tasks).toBe(1000);
      expect(lines.get("W1")!.broker).toBeNull();
      expect(lines.get("W2")!.exactlyOnce).toBe(true);
      // No warm-up against a shared broker: each run's agents are fresh processes.
      for (const line of lines.values()) expect(line.perRun.map((run) => run.agentsWarm)).toEqual([false]);
      const counts = (await broker.app.broker.stats()).tasks;
      // W1's tasks were drained after it (untimed): a bench leaves a shared broker as it found it.
      expect(counts.pending).toBe(0);
      expect(counts.inProgress).toBe(0);
    }, 60_000);
  });

  test("a broker that cannot be reached is a clear failure (exit 1), not a hang or a crash", async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = probe.port;
    probe.stop(true);
    const r = await runCli(["bench", "--url", `tq://127.0.0.1:${port}`, "--workload", "W2", "-n", "10"], { cwd }, 30_000);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("tq-broker bench: producer agent failed");
    expect(r.stderr).not.toContain("unexpected error");
  });

  test("--front grpc runs W1-W3 through the gRPC front door, every task completed exactly once", async () => {
    const r = await runCli(["bench", "--spawn", "--front", "grpc", "-n", "500", "--batch", "50", "--warmup", "0", "--json"], { cwd }, 60_000);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const lines = parseLines(r.stdout);
    expect([...lines.keys()]).toEqual(["W1", "W2", "W3"]);
    for (const line of lines.values()) expect((line as unknown as { front: string }).front).toBe("grpc");
    for (const name of ["W2", "W3"]) {
      expect(lines.get(name)!.checks).toEqual([{ submitted: 500, completed: 500, duplicates: 0, missing: 0, unknown: 0, exactlyOnce: true }] as never);
      expect(lines.get(name)!.errors).toEqual({});
    }
    const urlGrpc = await runCli(["bench", "--url", "tq://127.0.0.1:1", "--front", "grpc"], { cwd });
    expect(urlGrpc.exitCode).toBe(64);
    expect(urlGrpc.stderr).toContain("--front grpc needs --spawn");
  }, 90_000);

  test("--backend postgres --brokers 2 starts its own PostgreSQL and two brokers on it; W2 and W3 split over them complete every task exactly once", async () => {
    const r = await runCli(["bench", "--spawn", "--backend", "postgres", "--brokers", "2", "--workload", "W2,W3", "-n", "600", "--batch", "50", "--warmup", "0", "--json"], { cwd }, 120_000);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const lines = parseLines(r.stdout);
    expect([...lines.keys()]).toEqual(["W2", "W3"]);
    for (const line of lines.values()) {
      const pg = line as unknown as { backend: string; brokers: number; postgresCpuSecs: { median: number } | null };
      expect([pg.backend, pg.brokers]).toEqual(["postgres", 2]);
      // The server's processes did the storing: their CPU time over the run is read from /proc.
      expect(pg.postgresCpuSecs!.median).toBeGreaterThan(0);
      expect(line.checks).toEqual([{ submitted: 600, completed: 600, duplicates: 0, missing: 0, unknown: 0, exactlyOnce: true }] as never);
      expect(line.errors).toEqual({});
    }
    const table = await runCli(["bench", "--spawn", "--backend", "postgres", "--workload", "W1", "-n", "300", "--warmup", "0"], { cwd }, 120_000);
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toContain("PostgreSQL CPU s");
    expect(table.stdout).toContain("postgres, 1 broker");
  }, 240_000);

  test("--brokers and --backend refuse what they cannot do (exit 64), naming the option", async () => {
    for (const [args, text] of [
      [["--brokers", "2"], "--brokers needs --backend postgres"],
      [["--backend", "postgres", "--sync", "interval"], "--sync is the SQLite store's"],
      [["--backend", "postgres", "--restart"], "--restart"],
      [["--backend", "postgres", "--brokers", "2", "--front", "grpc"], "--front grpc runs with one broker"],
      [["--backend", "mysql"], "--backend"],
      [["--url", "tq://127.0.0.1:1", "--backend", "postgres"], "--backend applies to --spawn"],
    ] as const) {
      const r = await runCli(["bench", ...args], { cwd });
      expect({ args, exitCode: r.exitCode, named: r.stderr.includes(text) }).toEqual({ args, exitCode: 64, named: true });
    }
  }, 60_000);

  test("conflicting or bad options are usage errors (exit 64) naming the option", async () => {
    const both = await runCli(["bench", "--spawn", "--url", "tq://127.0.0.1:1"], { cwd });
    expect(both.exitCode).toBe(64);
    expect(both.stderr).toContain("--url and --spawn");
    const badWorkload = await runCli(["bench", "--workload", "W9"], { cwd });
    expect(badWorkload.exitCode).toBe(64);
    expect(badWorkload.stderr).toContain("W9");
    const warmUrl = await runCli(["bench", "--url", "tq://127.0.0.1:1", "--warmup", "10"], { cwd });
    expect(warmUrl.exitCode).toBe(64);
    expect(warmUrl.stderr).toContain("--warmup");
    const badN = await runCli(["bench", "-n", "0"], { cwd });
    expect(badN.exitCode).toBe(64);
    expect(badN.stderr).toContain("--n");
    const rawPrefetch = await runCli(["bench", "--raw", "--prefetch", "8"], { cwd });
    expect(rawPrefetch.exitCode).toBe(64);
    expect(rawPrefetch.stderr).toContain("--prefetch");
  });
});
