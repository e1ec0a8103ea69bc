// /metrics over real HTTP: the output parses as Prometheus text format and agrees with the
// registry's own JSON; each of the six spec metrics moves as tasks flow; the operator metrics
// count what they name; queue labels are capped; metrics_require_auth asks for an admin key.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DEFAULT_MAX_QUEUE_LABELS, QueueLabels } from "../../src/metrics.ts";
import { startBroker } from "../helpers/broker.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { startHarness, type Harness } from "../helpers/http-harness.ts";
import { eventually } from "../helpers/wire.ts";
import { parsePrometheusText, sampleValue, type Family } from "../unit/http/prom-text.ts";

const clock = new FakeClock();
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ clock, queueDepthThreshold: 50 });
});

afterAll(async () => {
  await h.stop();
});

async function scrape(harness: Harness = h, key?: string): Promise<Map<string, Family>> {
  const res = await fetch(`http://127.0.0.1:${harness.metricsPort}/metrics`, key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  return parsePrometheusText(await res.text());
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  return sampleValue(families, name, labels) ?? 0;
}

async function claim(queue: string) {
  const leases = await h.broker.claim({ workerId: "metrics-worker", queues: [queue], max: 1, waitMs: 0 });
  expect(leases.length).toBe(1);
  return { id: leases[0]!.task.id, token: leases[0]!.token };
}

describe("format", () => {
  test("parses as Prometheus text and agrees with the registry's JSON for every tq_ sample", async () => {
    await h.call("POST", "/api/v1/tasks", { body: { type: "fmt", queue: "fmt" } });
    const families = await scrape();
    const json = await h.metrics.registry.getMetricsAsJSON();
    const tq = json.filter((m) => m.name.startsWith("tq_"));
    expect(tq.length).toBeGreaterThan(15);
    for (const metric of tq) {
      expect(families.get(metric.name)?.type).toBe(String(metric.type));
      for (const v of metric.values) {
        const name = (v as { metricName?: string }).metricName ?? metric.name;
        const labels = Object.fromEntries(Object.entries(v.labels).map(([k, x]) => [k, String(x)]));
        expect(sampleValue(families, name, labels)).toBe(v.value);
      }
    }
    // Default process metrics are there too, on the private registry.
    expect(families.has("process_cpu_user_seconds_total")).toBe(true);
  });

  test("the six spec metrics are declared with their types", async () => {
    const families = await scrape();
    expect(families.get("tq_tasks_total")?.type).toBe("counter");
    expect(families.get("tq_tasks_pending")?.type).toBe("gauge");
    expect(families.get("tq_tasks_in_progress")?.type).toBe("gauge");
    expect(families.get("tq_task_processing_duration_seconds")?.type).toBe("histogram");
    expect(families.get("tq_workers_connected")?.type).toBe("gauge");
    expect(families.get("tq_broker_queue_depth")?.type).toBe("gauge");
  });
});

describe("the six spec metrics move as tasks flow", () => {
  test("pending, queue depth by tier, in progress, workers, processing time and outcomes", async () => {
    const before = await scrape();
    await h.call("POST", "/api/v1/tasks", { body: { tasks: [
      { type: "flow", queue: "flow", priority: "high" },
      { type: "flow", queue: "flow", priority: "low" },
      { type: "flow", queue: "flow", priority: "low", max_retries: 0 },
    ] } });
    const submitted = await scrape();
    expect(value(submitted, "tq_tasks_pending") - value(before, "tq_tasks_pending")).toBe(3);
    expect(value(submitted, "tq_broker_queue_depth", { priority: "high" }) - value(before, "tq_broker_queue_depth", { priority: "high" })).toBe(1);
    expect(value(submitted, "tq_broker_queue_depth", { priority: "low" }) - value(before, "tq_broker_queue_depth", { priority: "low" })).toBe(2);
    expect(value(submitted, "tq_tasks_submitted_total") - value(before, "tq_tasks_submitted_total")).toBe(3);

    const first = await claim("flow");
    const claimed = await scrape();
    expect(value(claimed, "tq_tasks_in_progress") - value(submitted, "tq_tasks_in_progress")).toBe(1);
    expect(value(claimed, "tq_tasks_pending") - value(submitted, "tq_tasks_pending")).toBe(-1);
    expect(value(claimed, "tq_workers_connected") - value(submitted, "tq_workers_connected")).toBe(1);
    expect(value(claimed, "tq_tasks_claimed_total") - value(submitted, "tq_tasks_claimed_total")).toBe(1);

    clock.advance(2_500);
    await h.broker.complete(first, { result: null, resultIsJson: false });
    const second = await claim("flow");
    await h.broker.fail(second, { error: "flaky", unrecoverable: false });
    const third = await claim("flow");
    await h.broker.fail(third, { error: "fatal", unrecoverable: false });
    const after = await scrape();
    const q = { queue: "flow" };
    expect(value(after, "tq_task_processing_duration_seconds_count", q)).toBe(1);
    expect(value(after, "tq_task_processing_duration_seconds_sum", q)).toBe(2.5);
    expect(value(after, "tq_task_processing_duration_seconds_bucket", { ...q, le: "2.5" })).toBe(1);
    expect(value(after, "tq_task_processing_duration_seconds_bucket", { ...q, le: "1" })).toBe(0);
    expect(value(after, "tq_tasks_total", { outcome: "completed" }) - value(before, "tq_tasks_total", { outcome: "completed" })).toBe(1);
    expect(value(after, "tq_tasks_total", { outcome: "failed" }) - value(before, "tq_tasks_total", { outcome: "failed" })).toBe(1);
    expect(value(after, "tq_tasks_total", { outcome: "dead" }) - value(before, "tq_tasks_total", { outcome: "dead" })).toBe(1);
    expect(value(after, "tq_task_retries_total") - value(before, "tq_task_retries_total")).toBe(1);
    expect(value(after, "tq_tasks_in_progress")).toBe(value(before, "tq_tasks_in_progress"));
    expect(value(after, "tq_tasks_scheduled") - value(before, "tq_tasks_scheduled")).toBe(1);
  });
});

describe("operator metrics", () => {
  test("oldest ready age per queue follows the broker's clock", async () => {
    await h.call("POST", "/api/v1/tasks", { body: { type: "age", queue: "aging" } });
    clock.advance(3_000);
    expect(value(await scrape(), "tq_queue_oldest_ready_age_seconds", { queue: "aging" })).toBe(3);
    await claim("aging");
    expect(value(await scrape(), "tq_queue_oldest_ready_age_seconds", { queue: "aging" })).toBe(0);
  });

  test("lease expiries, reclaims, QueueFull, protocol errors and group commits are counted", async () => {
    const before = await scrape();
    await h.call("POST", "/api/v1/tasks", { body: { type: "lease", queue: "leases", lease_ms: 1_000 } });
    await claim("leases");
    // The scheduler runs on the test's clock: moving it past the lease fires its tick.
    clock.advance(1_001);
    await eventually(async () => value(await scrape(), "tq_lease_expiries_total") - value(before, "tq_lease_expiries_total") === 1);
    await h.call("POST", "/api/v1/tasks", { body: { type: "rel", queue: "release" } });
    await h.broker.release([await claim("release")]);
    await h.call("GET", "/api/v1/tasks/not-a-uuid");
    const pending = (await h.broker.stats()).tasks.pending;
    const full = await h.call("POST", "/api/v1/tasks", { body: { tasks: Array.from({ length: 51 - pending }, () => ({ type: "fill", queue: "fill" })) } });
    expect(full.status).toBe(429);
    expect(full.headers.get("retry-after")).toBe("1");
    const after = await scrape();
    expect(value(after, "tq_lease_expiries_total") - value(before, "tq_lease_expiries_total")).toBe(1);
    expect(value(after, "tq_tasks_reclaimed_total", { reason: "released" }) - value(before, "tq_tasks_reclaimed_total", { reason: "released" })).toBe(1);
    expect(value(after, "tq_queue_full_rejections_total") - value(before, "tq_queue_full_rejections_total")).toBe(1);
    expect(value(after, "tq_protocol_errors_total", { front_door: "http", code: "InvalidField" })).toBeGreaterThanOrEqual(1);
    expect(value(after, "tq_protocol_errors_total", { front_door: "http", code: "QueueFull" })).toBe(1);
    expect(value(after, "tq_group_commit_duration_seconds_count")).toBeGreaterThan(value(before, "tq_group_commit_duration_seconds_count"));
    expect(value(after, "tq_group_commit_operations_total")).toBeGreaterThan(value(before, "tq_group_commit_operations_total"));
    expect(after.has("tq_connections_open")).toBe(true);
  });

  test("HTTP requests are labelled by route template, never by task id", async () => {
    const sent = await h.call("POST", "/api/v1/tasks", { body: { type: "label", queue: "labels" } });
    expect(sent.status).toBe(201);
    await h.call("GET", `/api/v1/tasks/${sent.body.id}`);
    const families = await scrape();
    expect(value(families, "tq_http_requests_total", { route: "GET /api/v1/tasks/{id}", status: "200" })).toBeGreaterThanOrEqual(1);
    for (const family of families.values()) {
      for (const s of family.samples) expect(JSON.stringify(s.labels)).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
    }
  });

  test("queue labels are capped: later queues are summed under \"other\"", async () => {
    // A broker of its own: the cap is DEFAULT_MAX_QUEUE_LABELS, past this file's queue depth limit.
    const b = await startHarness();
    try {
      const queues = DEFAULT_MAX_QUEUE_LABELS + 5;
      await b.broker.submit(Array.from({ length: queues }, (_, i) => ({ type: "label", queue: `cap-${i}` })));
      const families = await scrape(b);
      const labels = families.get("tq_queue_pending_tasks")!.samples.map((s) => s.labels.queue);
      expect(labels.length).toBe(DEFAULT_MAX_QUEUE_LABELS + 1);
      expect(labels).toContain("other");
      expect(value(families, "tq_queue_pending_tasks", { queue: "other" })).toBe(5);
      const total = families.get("tq_queue_pending_tasks")!.samples.reduce((n, s) => n + s.value, 0);
      expect(total).toBe(value(families, "tq_tasks_pending"));
      expect(total).toBe(queues);
    } finally {
      await b.stop();
    }
  });
});

test("QueueLabels keeps the first N names and folds the rest, and a queue named \"other\" into \"other\"", () => {
  const labels = new QueueLabels(2);
  expect(["a", "b", "c", "a", "other", "d", "b"].map((q) => labels.label(q))).toEqual(["a", "b", "other", "a", "other", "other", "b"]);
});

describe("metrics_require_auth", () => {
  test("scrapes need an admin key; others are refused and counted", async () => {
    const admin = "metrics-admin-0123456789";
    const producer = "metrics-producer-0123456789";
    const p = await startHarness({
      metricsRequireAuth: true,
      apiKeys: [
        { name: "ops", role: "admin", key: admin },
        { name: "app", role: "producer", key: producer },
      ],
    });
    try {
      const url = `http://127.0.0.1:${p.metricsPort}/metrics`;
      const none = await fetch(url);
      expect(none.status).toBe(401);
      expect(((await none.json()) as any).error.name).toBe("Unauthorized");
      expect((await fetch(url, { headers: { authorization: `Bearer ${producer}` } })).status).toBe(403);
      const families = await scrape(p, admin);
      expect(value(families, "tq_auth_failures_total", { front_door: "http" })).toBe(1);
      expect((await fetch(`http://127.0.0.1:${p.metricsPort}/other`)).status).toBe(404);
    } finally {
      await p.stop();
    }
  });
});

describe("one stats snapshot per scrape", () => {
  test("a scrape asks the broker for its stats once, and every gauge shows that one snapshot", async () => {
    const b = await startBroker();
    try {
      const broker = b.app.broker;
      const real = broker.stats.bind(broker);
      let calls = 0;
      broker.stats = () => {
        calls++;
        return real();
      };
      await broker.submit([{ type: "snap", queue: "snap-a" }, { type: "snap", queue: "snap-b", priority: "high" }]);
      const res = await fetch(`http://127.0.0.1:${b.metricsPort}/metrics`);
      expect(res.status).toBe(200);
      const families = parsePrometheusText(await res.text());
      expect(calls).toBe(1);
      expect(value(families, "tq_tasks_pending")).toBe(2);
      expect(value(families, "tq_broker_queue_depth", { priority: "high" })).toBe(1);
      expect(value(families, "tq_queue_pending_tasks", { queue: "snap-b" })).toBe(1);
      // The next scrape takes a fresh one.
      await broker.submit([{ type: "snap", queue: "snap-a" }]);
      const again = parsePrometheusText(await (await fetch(`http://127.0.0.1:${b.metricsPort}/metrics`)).text());
      expect(calls).toBe(2);
      expect(value(again, "tq_tasks_pending")).toBe(3);
    } finally {
      await b.stop();
    }
  });
});
