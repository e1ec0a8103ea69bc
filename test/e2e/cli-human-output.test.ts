// What the CLI shows people: `workers` prints CPU and memory with one decimal (the wire's float32
// cpu 0.2 is not 0.20000000298023224), `stats` shows durations as durations, and text logs from
// `serve` never print "undefined". Real CLI processes against a real broker.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { humanDuration } from "../../src/cli/stats.ts";
import { Client } from "../../src/index.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { runCli, spawnCli } from "../helpers/cli.ts";

let broker: TestBroker;
let client: Client;
let dir: string;
let url: string;

beforeAll(async () => {
  broker = await startBroker();
  url = `tq://127.0.0.1:${broker.port}`;
  client = new Client({ url, env: {} });
  dir = mkdtempSync(join(tmpdir(), "tq-human-"));
});

afterAll(async () => {
  await client.close();
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("workers", () => {
  test("CPU and memory from a heartbeat print with one decimal", async () => {
    await client.call(
      { kind: "RegisterWorker", workerId: "w-float", hostname: "h", pid: 1, queues: ["q"], concurrency: 2, version: "t", labels: [] },
      "Registered",
    );
    await client.call({ kind: "Heartbeat", workerId: "w-float", cpuPercent: 0.2, memoryMb: 58, inFlight: [] }, "HeartbeatOk");
    // The wire carries float32: the broker really holds the long value.
    const raw = (await client.workers()).find((w) => w.id === "w-float");
    expect(raw?.cpuPercent).toBe(Math.fround(0.2));
    const r = await runCli(["workers", "--url", url], { cwd: dir });
    expect(r.exitCode).toBe(0);
    const row = r.stdout.split("\n").find((l) => l.startsWith("w-float"));
    expect(row).toContain("  0.2%  ");
    expect(row).toContain("  58 MB  ");
    expect(r.stdout).not.toContain("0.20000000298023224");
  });
});

describe("stats", () => {
  test("text shows durations for people; --json keeps the raw ms", async () => {
    await client.submit("s", null);
    const text = await runCli(["stats", "--url", url], { cwd: dir });
    expect(text.exitCode).toBe(0);
    const uptime = text.stdout.split("\n").find((l) => l.startsWith("uptimeMs"));
    expect(uptime).toMatch(/^uptimeMs\s+(\d+(\.\d+)? (ms|s)|\d+m \d\ds)$/);
    const p99 = text.stdout.split("\n").find((l) => l.startsWith("commits.p99Ms"));
    expect(p99).toMatch(/^commits\.p99Ms\s+\d+(\.\d+)? ms$/);
    const json = JSON.parse((await runCli(["stats", "--json", "--url", url], { cwd: dir })).stdout) as { uptimeMs: number };
    expect(typeof json.uptimeMs).toBe("number");
  });

  test("humanDuration across its ranges", () => {
    expect([0, 0.423, 87.4, 4230, 303_000, 7_500_000, 3 * 86_400_000 + 4 * 3_600_000].map(humanDuration)).toEqual([
      "0 ms",
      "0.42 ms",
      "87 ms",
      "4.2 s",
      "5m 03s",
      "2h 05m",
      "3d 04h",
    ]);
  });
});

describe("text logs", () => {
  test("serve with json_logging false prints no undefined", async () => {
    const serve = spawnCli(["serve", "--port", "0", "--data-dir", join(dir, "data")], {
      cwd: dir,
      env: { TQ_BROKER_HOST: "127.0.0.1", TQ_API_REST_PORT: "0", TQ_API_GRPC_PORT: "0", TQ_MONITORING_PROMETHEUS_PORT: "0", TQ_MONITORING_JSON_LOGGING: "false" },
    });
    await serve.waitForStdout("tq-broker started");
    expect(await serve.stop()).toBe(0);
    expect(serve.stdout()).toContain("INFO  store opened");
    expect(serve.stdout()).not.toContain("undefined");
  });
});
