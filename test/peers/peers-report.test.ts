// The peer bench's arithmetic and its command line, without servers: ratios are taken round by
// round (not as a ratio of medians), W4 compares latency, server CPU is per task; tq-broker's bench
// gets the shared parameters, and its own defaults wherever the user gave no value.

import { describe, expect, test } from "bun:test";
import type { PeerRun, PeersRun } from "../../bench/peers/peer-run.ts";
import { parsePeersOptions, tqBenchArgs } from "../../bench/peers/peers-options.ts";
import { formatPeersTable, summarizePeers } from "../../bench/peers/peers-report.ts";

function run(tasksPerSec: number, serverCpuSecs: number, latency?: { p50Ms: number; p99Ms: number }): PeerRun {
  return {
    tasks: 1000,
    tasksPerSec,
    latency: latency === undefined ? null : { count: 1000, p90Ms: latency.p99Ms, p999Ms: latency.p99Ms, maxMs: latency.p99Ms, ...latency },
    serverCpuSecs,
    serverPeakRssMiB: 10,
    agentsCpuSecs: 0.1,
    exactlyOnce: true,
    errors: {},
    warmedUp: 0,
  };
}

const options = parsePeersOptions(["--runs", "3"]);

describe("summarizePeers", () => {
  const result: PeersRun = {
    beanstalkd: { path: "/usr/bin/beanstalkd", version: "beanstalkd 1.12" },
    options,
    workloads: [
      {
        workload: "W2",
        tqSync: "full",
        runs: {
          "tq-broker": [run(100, 0.01), run(200, 0.02), run(300, 0.03)],
          "beanstalkd-binlog": [run(100, 0.02), run(100, 0.02), run(600, 0.02)],
          "beanstalkd-nobinlog": [run(50, 0.01), run(100, 0.01), run(150, 0.01)],
        },
      },
      {
        workload: "W4",
        tqSync: "full",
        runs: {
          "tq-broker": [run(1000, 0.5, { p50Ms: 0.3, p99Ms: 4 }), run(1000, 0.5, { p50Ms: 0.3, p99Ms: 6 }), run(1000, 0.5, { p50Ms: 0.3, p99Ms: 3 })],
          "beanstalkd-binlog": [run(1000, 0.1, { p50Ms: 0.2, p99Ms: 1 }), run(1000, 0.1, { p50Ms: 0.2, p99Ms: 2 }), run(1000, 0.1, { p50Ms: 0.2, p99Ms: 3 })],
          "beanstalkd-nobinlog": [run(1000, 0.05, { p50Ms: 0.1, p99Ms: 2 }), run(1000, 0.05, { p50Ms: 0.1, p99Ms: 2 }), run(1000, 0.05, { p50Ms: 0.1, p99Ms: 2 })],
        },
      },
    ],
  };
  const s = summarizePeers(result);

  test("throughput ratios pair each round's runs: median and range of tq-broker / beanstalkd per round", () => {
    const [tasks, cpu] = s.workloads[0]!.ratios;
    // Rounds: 100/100, 200/100, 300/600 -> 1, 2, 0.5; the ratio of the medians would say 2.
    expect(tasks).toEqual({ figure: "tasks/s", vsBinlog: { median: 1, min: 0.5, max: 2 }, vsNoBinlog: { median: 2, min: 2, max: 2 } });
    // Server CPU per task: 10/20/30 µs against 20 and 10.
    expect(cpu!.figure).toBe("server CPU µs/task");
    expect(cpu!.vsBinlog).toEqual({ median: 1, min: 0.5, max: 1.5 });
    expect(s.workloads[0]!.targets["tq-broker"].cpuUsPerTask).toEqual({ median: 20, min: 10, max: 30 });
  });

  test("W4 compares p50 and p99 latency and CPU per task, not its fixed rate", () => {
    const w4 = s.workloads[1]!;
    expect(w4.ratios.map((r) => r.figure)).toEqual(["p50 ms", "p99 ms", "server CPU µs/task"]);
    // p99 rounds: 4/1, 6/2, 3/3.
    expect(w4.ratios[1]!.vsBinlog).toEqual({ median: 3, min: 1, max: 4 });
    expect(w4.ratios[2]!.vsNoBinlog.median).toBeCloseTo(10, 9);
    expect(w4.targets["beanstalkd-binlog"].p99Ms).toEqual({ median: 2, min: 1, max: 3 });
  });

  test("the table names both servers, beanstalkd's binlog flags and every workload's ratios", () => {
    const table = formatPeersTable(s);
    expect(table).toContain("against beanstalkd 1.12 (binlog: -b DIR -f 50; no binlog: in memory only)");
    expect(table).toContain("median of 3 interleaved run(s)");
    expect(table).toMatch(/W2 +tasks\/s +x1\.00 \(0\.50-2\.00\) +x2\.00/);
    expect(table).toMatch(/W4 +p50 ms/);
  });
});

describe("the flags tq-broker bench gets", () => {
  test("the shared parameters always; --warmup and --sync only when given, so its own defaults hold otherwise", () => {
    const plain = tqBenchArgs(parsePeersOptions([]), "W3");
    expect(plain.slice(0, 7)).toEqual(["bench", "--spawn", "--json", "--runs", "1", "--workload", "W3"]);
    expect(plain).toContain("--window");
    expect(plain).not.toContain("--warmup");
    expect(plain).not.toContain("--sync");
    const given = tqBenchArgs(parsePeersOptions(["-n", "500", "--warmup", "0", "--sync", "interval", "--", "--some-mode"]), "W1");
    expect(given.slice(given.indexOf("-n"), given.indexOf("-n") + 2)).toEqual(["-n", "500"]);
    expect(given.slice(given.indexOf("--warmup"), given.indexOf("--warmup") + 2)).toEqual(["--warmup", "0"]);
    expect(given.slice(given.indexOf("--sync"), given.indexOf("--sync") + 2)).toEqual(["--sync", "interval"]);
    expect(given.at(-1)).toBe("--some-mode");
  });

  test("defaults: 3 rounds, beanstalkd's own -f 50; -F and -f 0 on request", () => {
    const d = parsePeersOptions([]);
    expect({ runs: d.runs, n: d.n, payloadBytes: d.payloadBytes, concurrency: d.concurrency, producers: d.producers, binlogFsync: d.binlogFsync }).toEqual({
      runs: 3,
      n: 100_000,
      payloadBytes: 100,
      concurrency: 4,
      producers: 1,
      binlogFsync: { everyMs: 50 },
    });
    expect(parsePeersOptions(["--binlog-fsync", "never"]).binlogFsync).toBe("never");
    expect(parsePeersOptions(["--binlog-fsync", "0"]).binlogFsync).toEqual({ everyMs: 0 });
  });
});
