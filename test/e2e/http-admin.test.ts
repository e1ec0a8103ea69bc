// Operator routes over real HTTP: queues (depth per tier, oldest ready age, pause/resume honoured
// by claims), workers (list, quiet, shutdown), stats, health and readiness (503 when the store
// cannot write or a listener is down), the OpenAPI document against the live routes, the dashboard.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { HTTP_ROUTES } from "../../src/http/routes.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { startHarness, type Harness } from "../helpers/http-harness.ts";

let h: Harness;
const clock = new FakeClock();

beforeAll(async () => {
  h = await startHarness({ clock });
});

afterAll(async () => {
  await h.stop();
});

describe("queues", () => {
  test("depth per priority tier, scheduled, in progress and the oldest ready task's age", async () => {
    await h.call("POST", "/api/v1/tasks", { body: { tasks: [
      { type: "q", queue: "tiers", priority: 250 },
      { type: "q", queue: "tiers", priority: 120 },
      { type: "q", queue: "tiers", priority: 130 },
      { type: "q", queue: "tiers", priority: 5 },
      { type: "q", queue: "tiers", delay_ms: 60_000 },
    ] } });
    clock.advance(4_000);
    await h.broker.claim({ workerId: "w1", queues: ["tiers"], max: 1, waitMs: 0 });
    const reply = await h.call("GET", "/api/v1/queues");
    expect(reply.status).toBe(200);
    const q = reply.body.queues.find((x: any) => x.name === "tiers");
    // The high-priority task was claimed: two normal and one low remain ready.
    expect(q).toEqual({
      name: "tiers",
      pending: { high: 0, normal: 2, low: 1 },
      pending_total: 3,
      scheduled: 1,
      in_progress: 1,
      oldest_ready_age_ms: 4_000,
      paused: false,
      retrying: 0,
      completed: 0,
      dead: 0,
      cancelled: 0,
      completed_per_min: 0,
      failed_per_min: 0,
      failure_rate: null,
    });
  });

  test("pause is honoured by claims (immediate and parked) until resume", async () => {
    await h.call("POST", "/api/v1/tasks", { body: { type: "p", queue: "pausable" } });
    const paused = await h.call("POST", "/api/v1/queues/pausable/pause");
    expect(paused.body).toEqual({ name: "pausable", paused: true });
    expect(await h.broker.claim({ workerId: "w2", queues: ["pausable"], max: 1, waitMs: 0 })).toEqual([]);
    const listed = await h.call("GET", "/api/v1/queues");
    expect(listed.body.queues.find((x: any) => x.name === "pausable").paused).toBe(true);
    // A blocking claim parks while the queue is paused and is served by the resume.
    const parked = h.broker.claim({ workerId: "w2", queues: ["pausable"], max: 1, waitMs: 30_000 });
    const resumed = await h.call("POST", "/api/v1/queues/pausable/resume");
    expect(resumed.body).toEqual({ name: "pausable", paused: false });
    const leases = await parked;
    expect(leases.map((l) => l.task.queue)).toEqual(["pausable"]);
  });

  test("an empty paused queue is still listed; bad names are InvalidField", async () => {
    await h.call("POST", "/api/v1/queues/empty-paused/pause");
    const listed = await h.call("GET", "/api/v1/queues");
    expect(listed.body.queues.find((x: any) => x.name === "empty-paused")).toMatchObject({ paused: true, pending_total: 0 });
    await h.call("POST", "/api/v1/queues/empty-paused/resume");
    const bad = await h.call("POST", `/api/v1/queues/${encodeURIComponent("no spaces")}/pause`);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ name: "InvalidField", field: "name" });
  });
});

describe("workers", () => {
  test("lists registered workers; quiet and shutdown set the command the next heartbeat carries", async () => {
    h.broker.registerWorker({ id: "wk-1", hostname: "box", pid: 42, queues: ["a"], concurrency: 4, version: "1.0", labels: { zone: "x" } });
    const list = await h.call("GET", "/api/v1/workers");
    expect(list.status).toBe(200);
    expect(list.body.workers.find((w: any) => w.id === "wk-1")).toMatchObject({
      hostname: "box",
      pid: 42,
      queues: ["a"],
      concurrency: 4,
      labels: { zone: "x" },
      command: "none",
      auto_registered: false,
    });
    const quiet = await h.call("POST", "/api/v1/workers/wk-1/quiet");
    expect(quiet.body.command).toBe("quiet");
    expect((await h.broker.heartbeat("wk-1", { cpuPercent: 1, memoryMb: 2, inFlight: 0 }, [])).command).toBe("quiet");
    const shutdown = await h.call("POST", "/api/v1/workers/wk-1/shutdown");
    expect(shutdown.body.command).toBe("shutdown");
    expect((await h.broker.heartbeat("wk-1", { cpuPercent: 1, memoryMb: 2, inFlight: 0 }, [])).command).toBe("shutdown");
  });

  test("an unknown worker is NotFound", async () => {
    const reply = await h.call("POST", "/api/v1/workers/ghost/quiet");
    expect(reply.status).toBe(404);
    expect(reply.body.error).toMatchObject({ name: "NotFound", field: "worker_id" });
  });
});

describe("stats", () => {
  test("snake_case counts and totals that follow the broker", async () => {
    const before = (await h.call("GET", "/api/v1/stats")).body;
    await h.call("POST", "/api/v1/tasks", { body: { type: "s", queue: "stats" } });
    const after = (await h.call("GET", "/api/v1/stats")).body;
    expect(after.totals.submitted).toBe(before.totals.submitted + 1);
    expect(after.tasks.pending).toBe(before.tasks.pending + 1);
    expect(after).toHaveProperty("uptime_ms");
    expect(after).toHaveProperty("parked_claims");
    expect(after.totals).toHaveProperty("queue_full");
    expect(Array.isArray(after.tasks.queues)).toBe(true);
    // What the composed broker adds is passed through, snake_cased all the way down.
    expect(after.commits).toHaveProperty("p99_ms");
    h.broker.noteBackground("scheduler", { lastRunAtMs: 5, leasesExpired: 0 });
    const background = (await h.call("GET", "/api/v1/stats")).body.background;
    expect(background.scheduler).toMatchObject({ last_run_at_ms: 5, leases_expired: 0 });
  });
});

describe("health", () => {
  test("/healthz is up; /readyz is ready while the store writes, the disk has room and every listener is up", async () => {
    const health = await h.call("GET", "/healthz");
    expect(health.status).toBe(200);
    expect(health.body.status).toBe("ok");
    const ready = await h.call("GET", "/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: "ready", checks: { store: { ok: true }, disk: { ok: true }, "broker.port": { ok: true } } });
  });

  test("/readyz is 503 naming the store when the store cannot write", async () => {
    h.failCommits = true;
    try {
      const ready = await h.call("GET", "/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body.status).toBe("not_ready");
      expect(ready.body.checks.store.ok).toBe(false);
      expect(ready.body.checks.store.error).toContain("StorageUnavailable");
      // Liveness does not depend on the store.
      expect((await h.call("GET", "/healthz")).status).toBe(200);
    } finally {
      h.failCommits = false;
    }
    expect((await h.call("GET", "/readyz")).status).toBe(200);
  });

  test("/readyz is 503 naming a listener that is down", async () => {
    // startApp's own listener says broker.port is down only while stopping: a second REST
    // listener on the same broker is told the listener states instead.
    const listenerUp = { "broker.port": false };
    const server = h.listen({ listeners: () => ({ ...listenerUp }) });
    const ready = await h.call("GET", "/readyz", { base: server.url });
    expect(ready.status).toBe(503);
    expect(ready.body.checks["broker.port"]).toEqual({ ok: false, error: "not listening" });
    expect(ready.body.checks.store.ok).toBe(true);
    listenerUp["broker.port"] = true;
    expect((await h.call("GET", "/readyz", { base: server.url })).status).toBe(200);
  });
});

describe("OpenAPI", () => {
  test("the document lists exactly the routes the server answers", async () => {
    const doc = (await h.call("GET", "/api/v1/openapi.json")).body;
    expect(doc.openapi).toMatch(/^3\./);
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(documented).toEqual(HTTP_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    // Every documented operation is really served: a sample request is never "no route" (404 with
    // no field) nor 405, and every undocumented neighbour is.
    const sampleId = "0190a5a0-0000-7000-8000-00000000abcd";
    const streams = new Set(HTTP_ROUTES.filter((r) => r.responses.some((x) => x.contentType === "text/event-stream")).map((r) => `${r.method} ${r.path}`));
    for (const entry of documented) {
      if (streams.has(entry)) continue;
      const [method, template] = entry.split(" ") as [string, string];
      const path = template.replace("{id}", sampleId).replace("{name}", "openapi-probe");
      const reply = await h.call(method, path, method === "POST" && template === "/api/v1/tasks" ? { body: { type: "probe" } } : {});
      expect(reply.status === 405 || (reply.status === 404 && reply.body.error?.field === null)).toBe(false);
    }
    expect((await h.call("GET", "/api/v1/task")).status).toBe(404);
  });

  test("every $ref resolves and every route documents its error reply", async () => {
    const doc = (await h.call("GET", "/api/v1/openapi.json")).body;
    const text = JSON.stringify(doc);
    for (const m of text.matchAll(/"\$ref":"#\/components\/schemas\/([A-Za-z]+)"/g)) {
      expect(doc.components.schemas).toHaveProperty(m[1]!);
    }
    const submit = doc.paths["/api/v1/tasks"].post;
    expect(Object.keys(submit.responses)).toEqual(expect.arrayContaining(["201", "400", "401", "403", "429", "503"]));
    expect(submit["x-tq-operation"]).toBe("submit");
    expect(doc.paths["/healthz"].get.security).toEqual([]);
  });

  test("a real reply has the documented required fields", async () => {
    const doc = (await h.call("GET", "/api/v1/openapi.json")).body;
    const sent = await h.call("POST", "/api/v1/tasks", { body: { type: "shape", queue: "shape" } });
    const task = (await h.call("GET", `/api/v1/tasks/${sent.body.id}`)).body;
    for (const field of doc.components.schemas.Task.required) expect(task).toHaveProperty(field);
    const queues = (await h.call("GET", "/api/v1/queues")).body.queues;
    for (const field of doc.components.schemas.Queue.required) expect(queues[0]).toHaveProperty(field);
    const err = (await h.call("GET", "/api/v1/tasks/nope")).body;
    for (const field of doc.components.schemas.Error.properties.error.required) expect(err.error).toHaveProperty(field);
  });
});

describe("dashboard", () => {
  test("GET / is a page whose script and style come from the broker itself, locked down by its CSP", async () => {
    const page = await h.call("GET", "/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    // Nothing from elsewhere: every src and href is a path of this origin (or the empty icon).
    for (const m of (page.body as string).matchAll(/(?:src|href)="([^"]+)"/g)) expect(m[1]!).toMatch(/^(\/|#|data:,$)/);
    const script = await h.call("GET", "/dashboard/app.js");
    expect(script.headers.get("content-type")).toContain("text/javascript");
    expect(script.body).toContain("/api/v1/events");
    expect(script.body).not.toContain("innerHTML");
    // The script at least parses (a syntax error would leave an empty page).
    expect(() => new Function(script.body)).not.toThrow();
    expect((await h.call("GET", "/dashboard/style.css")).headers.get("content-type")).toContain("text/css");
  });
});
