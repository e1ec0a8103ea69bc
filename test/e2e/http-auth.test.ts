// API keys over HTTP: no key, a wrong key, a malformed header and each role against each route,
// with no state change when a request is refused; failures counted and logged without the key.
// Then protected mode on loopback (the non-loopback bind and client are simulated, by a second
// REST listener on the broker that startApp composed).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { roleAllows, ROLES, type Role } from "../../src/broker/auth.ts";
import { HTTP_ROUTES } from "../../src/http/routes.ts";
import { startHarness, type Harness } from "../helpers/http-harness.ts";

const KEYS: Record<Role, string> = {
  admin: "admin-key-0123456789abcdef",
  producer: "producer-key-0123456789abcdef",
  worker: "worker-key-0123456789abcdef",
};
const WRONG_KEY = "not-a-key-0123456789abcdef";

let h: Harness;
const logLines: string[] = [];

beforeAll(async () => {
  h = await startHarness({
    logLines,
    apiKeys: [
      { name: "ops", role: "admin", key: KEYS.admin },
      // One key given as its SHA-256 only, as an operator who keeps no plaintext would.
      { name: "shop", role: "producer", key_sha256: createHash("sha256").update(KEYS.producer).digest("hex") },
      { name: "runner", role: "worker", key: KEYS.worker },
    ],
  });
});

afterAll(async () => {
  await h.stop();
});

let fixture = 0;

/** A fresh pending task in its own queue, made straight through the broker. */
async function pendingTask(): Promise<string> {
  const [outcome] = await h.broker.submit([{ type: "fixture", queue: `auth-${++fixture}` }]);
  return outcome!.id;
}

/** A valid request for each route, built fresh so an allowed call has something to act on. */
const REQUESTS: Record<string, () => Promise<{ method: string; path: string; body?: unknown; stream?: boolean }>> = {
  submitTasks: async () => ({ method: "POST", path: "/api/v1/tasks", body: { type: "m", queue: "auth-submit" } }),
  listTasks: async () => ({ method: "GET", path: "/api/v1/tasks?limit=5" }),
  getTask: async () => ({ method: "GET", path: `/api/v1/tasks/${await pendingTask()}` }),
  waitTaskResult: async () => ({ method: "GET", path: `/api/v1/tasks/${await pendingTask()}/result` }),
  cancelTask: async () => ({ method: "DELETE", path: `/api/v1/tasks/${await pendingTask()}` }),
  retryTask: async () => {
    const id = await pendingTask();
    await h.broker.cancel(id);
    return { method: "POST", path: `/api/v1/tasks/${id}/retry` };
  },
  listQueues: async () => ({ method: "GET", path: "/api/v1/queues" }),
  pauseQueue: async () => ({ method: "POST", path: "/api/v1/queues/auth-pause/pause" }),
  resumeQueue: async () => {
    await h.broker.pause("auth-resume");
    return { method: "POST", path: "/api/v1/queues/auth-resume/resume" };
  },
  listWorkers: async () => ({ method: "GET", path: "/api/v1/workers" }),
  quietWorker: async () => {
    h.broker.registerWorker({ id: "auth-w", hostname: "h", pid: 1, queues: [], concurrency: 1, version: "", labels: {} });
    return { method: "POST", path: "/api/v1/workers/auth-w/quiet" };
  },
  shutdownWorker: async () => {
    h.broker.registerWorker({ id: "auth-w2", hostname: "h", pid: 1, queues: [], concurrency: 1, version: "", labels: {} });
    return { method: "POST", path: "/api/v1/workers/auth-w2/shutdown" };
  },
  getStats: async () => ({ method: "GET", path: "/api/v1/stats" }),
  whoami: async () => ({ method: "GET", path: "/api/v1/whoami" }),
  getOverview: async () => ({ method: "GET", path: "/api/v1/overview" }),
  getActivity: async () => ({ method: "GET", path: "/api/v1/activity" }),
  streamEvents: async () => ({ method: "GET", path: "/api/v1/events", stream: true }),
  inspectTask: async () => ({ method: "GET", path: `/api/v1/tasks/${await pendingTask()}/inspect` }),
  downloadTaskBody: async () => ({ method: "GET", path: `/api/v1/tasks/${await pendingTask()}/raw/payload` }),
  deleteTask: async () => ({ method: "POST", path: `/api/v1/tasks/${await pendingTask()}/delete` }),
  bulkTasks: async () => {
    const queue = `auth-bulk-${++fixture}`;
    await h.broker.submit([{ type: "fixture", queue }]);
    return { method: "POST", path: "/api/v1/tasks/bulk", body: { action: "cancel", status: "pending", queue } };
  },
  purgeQueue: async () => {
    const queue = `auth-purge-${++fixture}`;
    await h.broker.submit([{ type: "fixture", queue }]);
    return { method: "POST", path: `/api/v1/queues/${queue}/purge` };
  },
  dashboardScript: async () => ({ method: "GET", path: "/dashboard/app.js" }),
  dashboardStyle: async () => ({ method: "GET", path: "/dashboard/style.css" }),
  healthz: async () => ({ method: "GET", path: "/healthz" }),
  readyz: async () => ({ method: "GET", path: "/readyz" }),
  openapi: async () => ({ method: "GET", path: "/api/v1/openapi.json" }),
  dashboard: async () => ({ method: "GET", path: "/" }),
};

/** Everything a refused request could have changed. */
async function snapshot(): Promise<string> {
  const s = (await h.broker.stats());
  const tasks = await h.broker.list({ limit: 1000 });
  return JSON.stringify({
    tasks: tasks.tasks.map((t) => [t.id, t.status, t.attempts]),
    counts: s.tasks,
    totals: s.totals,
    paused: s.pausedQueues.sort(),
    workers: h.broker.workers.list().map((w) => [w.id, w.command]),
  });
}

/**
 * h.call, but an event stream (which never ends) is read up to its headers and then dropped:
 * the status is what the matrix checks.
 */
async function call(req: { method: string; path: string; body?: unknown; stream?: boolean }, init: { key?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: any }> {
  if (!req.stream) return h.call(req.method, req.path, { ...(req.body === undefined ? {} : { body: req.body }), ...init });
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  if (init.key !== undefined) headers.authorization = `Bearer ${init.key}`;
  const abort = new AbortController();
  const res = await fetch(`${h.http.url}${req.path}`, { headers, signal: abort.signal });
  const body = res.ok ? null : await res.json();
  abort.abort();
  return { status: res.status, body };
}

async function authFailures(): Promise<number> {
  const metric = (await h.metrics.registry.getMetricsAsJSON()).find((m) => m.name === "tq_auth_failures_total");
  return metric?.values.find((v) => v.labels.front_door === "http")?.value ?? 0;
}

test("the request table covers every route", () => {
  expect(Object.keys(REQUESTS).sort()).toEqual(HTTP_ROUTES.map((r) => r.operationId).sort());
});

describe("without a valid key", () => {
  for (const route of HTTP_ROUTES) {
    test(`${route.method} ${route.path}: ${route.operation === null ? "open" : "401 with no key, a wrong key or a non-Bearer header; nothing changes"}`, async () => {
      const req = await REQUESTS[route.operationId]!();
      if (route.operation === null) {
        const reply = await h.call(req.method, req.path);
        expect(reply.status).toBe(200);
        return;
      }
      const failuresBefore = await authFailures();
      const attempts: Record<string, string>[] = [{}, { authorization: `Bearer ${WRONG_KEY}` }, { authorization: `Basic ${btoa(`u:${KEYS.admin}`)}` }];
      for (const headers of attempts) {
        const before = await snapshot();
        const reply = await call(req, { headers });
        expect(reply.status).toBe(401);
        expect(reply.body.error).toMatchObject({ code: 6, name: "Unauthorized", field: "authorization" });
        expect(await snapshot()).toBe(before);
      }
      expect(await authFailures()).toBe(failuresBefore + 3);
    });
  }
});

describe("each role against each route", () => {
  for (const role of ROLES) {
    for (const route of HTTP_ROUTES.filter((r) => r.operation !== null)) {
      const allowed = roleAllows(role, route.operation!);
      test(`${role} ${allowed ? "may" : "may not"} ${route.method} ${route.path}`, async () => {
        const req = await REQUESTS[route.operationId]!();
        const before = await snapshot();
        const reply = await call(req, { key: KEYS[role] });
        if (allowed) {
          expect(reply.status).toBeLessThan(300);
        } else {
          expect(reply.status).toBe(403);
          expect(reply.body.error).toMatchObject({ code: 7, name: "Forbidden" });
          expect(reply.body.error.message).toContain(role);
          expect(await snapshot()).toBe(before);
        }
      });
    }
  }
});

test("auth failures are logged with the route and without the key", () => {
  const failures = logLines.filter((l) => l.includes("http auth failed"));
  expect(failures.length).toBeGreaterThan(0);
  expect(failures.some((l) => l.includes("POST /api/v1/tasks"))).toBe(true);
  for (const line of logLines) {
    for (const key of [...Object.values(KEYS), WRONG_KEY]) expect(line).not.toContain(key);
  }
});

describe("protected mode (auth off)", () => {
  test("a loopback client of a listener judged as bound to 0.0.0.0 is served", async () => {
    const p = await startHarness();
    try {
      const base = p.listen({ simulate: { bindHost: "0.0.0.0" } }).url;
      const reply = await p.call("POST", "/api/v1/tasks", { body: { type: "local" }, base });
      expect(reply.status).toBe(201);
    } finally {
      await p.stop();
    }
  });

  test("a non-loopback client is refused with ProtectedMode telling how to enable auth; health stays open", async () => {
    const p = await startHarness();
    try {
      const base = p.listen({ simulate: { bindHost: "0.0.0.0", remoteAddress: "203.0.113.9" } }).url;
      const before = (await p.broker.stats()).totals.submitted;
      const reply = await p.call("POST", "/api/v1/tasks", { body: { type: "remote" }, base });
      expect(reply.status).toBe(403);
      expect(reply.body.error).toMatchObject({ code: 15, name: "ProtectedMode" });
      expect(reply.body.error.message).toContain("auth.enabled");
      expect(reply.body.error.message).toContain("auth.api_keys");
      expect((await p.broker.stats()).totals.submitted).toBe(before);
      expect((await p.call("GET", "/healthz", { base })).status).toBe(200);
      expect((await p.call("GET", "/readyz", { base })).status).toBe(200);
    } finally {
      await p.stop();
    }
  });

  test("with auth on, a non-loopback client with a key is served", async () => {
    const p = await startHarness({ apiKeys: [{ name: "ops", role: "admin", key: KEYS.admin }] });
    try {
      const base = p.listen({ simulate: { bindHost: "0.0.0.0", remoteAddress: "203.0.113.9" } }).url;
      expect((await p.call("GET", "/api/v1/stats", { key: KEYS.admin, base })).status).toBe(200);
      expect((await p.call("GET", "/api/v1/stats", { base })).status).toBe(401);
    } finally {
      await p.stop();
    }
  });
});
