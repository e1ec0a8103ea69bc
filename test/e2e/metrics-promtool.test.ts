// The whole of a real broker's /metrics, after traffic on every front door, passes Prometheus's
// own `promtool check metrics` (fetched from Debian's package when missing; skipped loudly when it
// cannot be had) and the in-repo strict parser; prom-client defaults that are false on Bun
// (nodejs_version_info, nodejs_active_*_total, V8 heap spaces, GC) are not exported.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client, Worker } from "../../src/index.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { findPromtool } from "../helpers/promtool.ts";
import { parsePrometheusText } from "../unit/http/prom-text.ts";

const promtool = await findPromtool();
if (promtool.path === null) {
  console.warn(`\n!!! SKIPPING promtool check metrics: promtool is not available (${promtool.reason}) !!!\n`);
}

let broker: TestBroker;
let text: string;

beforeAll(async () => {
  broker = await startBroker();
  const url = `tq://127.0.0.1:${broker.port}`;
  const client = new Client({ url, env: {} });
  const worker = new Worker({ url, env: {}, queues: ["prom"], handleSignals: false });
  worker.register("ok", () => 1);
  worker.register("bad", () => {
    const e = new Error("no");
    e.name = "UnrecoverableError";
    throw e;
  });
  try {
    await worker.start();
    const ok = await client.submit("ok", null, { queue: "prom" });
    const bad = await client.submit("bad", null, { queue: "prom" });
    await client.result(ok.id, { wait: 10_000 });
    await client.result(bad.id, { wait: 10_000 }).catch(() => {});
    await fetch(`http://127.0.0.1:${broker.httpPort}/api/v1/tasks/${ok.id}`);
  } finally {
    await worker.stop();
    await client.close();
  }
  const res = await fetch(`http://127.0.0.1:${broker.metricsPort}/metrics`);
  expect(res.status).toBe(200);
  text = await res.text();
});

afterAll(async () => {
  await broker.stop();
});

describe("/metrics is valid and true", () => {
  test.skipIf(promtool.path === null)("promtool check metrics passes on all of it, lint included", async () => {
    const proc = Bun.spawn([promtool.path!, "check", "metrics"], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ code, problems: `${out}${err}`.trim() }).toEqual({ code: 0, problems: "" });
  }, 30_000);

  test("the strict parser accepts it; only counters end in _total", () => {
    const families = parsePrometheusText(text);
    expect(families.size).toBeGreaterThan(20);
    for (const f of families.values()) {
      if (f.name.endsWith("_total")) expect({ name: f.name, type: f.type }).toEqual({ name: f.name, type: "counter" });
    }
  });

  test("defaults that are false on Bun are left out; the true ones stay", () => {
    const names = [...parsePrometheusText(text).keys()];
    expect(names.filter((n) => /^nodejs_(version_info|active_|heap_|external_memory|gc_)|^process_heap_bytes$/.test(n))).toEqual([]);
    for (const kept of ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds", "nodejs_eventloop_lag_p99_seconds"]) {
      expect(names).toContain(kept);
    }
  });
});
