// docs/http-api.md against a live broker, as a curl user would read it: the submit example, the
// field lists, status codes, the error shape and the health routes; and QueueFull on both doors.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { DocsClient, spec } from "./docs-client.ts";

let broker: TestBroker;
let base: string;
beforeAll(async () => {
  broker = await startBroker();
  base = `http://127.0.0.1:${broker.httpPort}`;
});
afterAll(async () => {
  await broker.stop();
});

type Obj = Record<string, unknown>;
async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Obj; headers: Headers }> {
  const r = await fetch(base + path, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: text === "" ? {} : (JSON.parse(text) as Obj), headers: r.headers };
}
const errorOf = (j: Obj): Obj => j.error as Obj;

describe("tasks", () => {
  test("the doc's curl submit: 201 with {id, status, duplicate}; priority \"high\" is 255", async () => {
    const r = await call("POST", "/api/v1/tasks", { type: "email.send", queue: "mail", payload: { to: "a@example.com" }, priority: "high" });
    expect(r.status).toBe(201);
    expect(Object.keys(r.json).sort()).toEqual(["duplicate", "id", "status"]);
    expect(r.json).toMatchObject({ status: "pending", duplicate: false });
    const t = await call("GET", `/api/v1/tasks/${r.json.id}`);
    expect(t.status).toBe(200);
    expect(t.json).toMatchObject({ priority: 255, priority_tier: "high", queue: "mail", payload: { to: "a@example.com" }, payload_is_json: true, result: null });
  });

  test("GET a task has every documented field", async () => {
    const r = await call("POST", "/api/v1/tasks", { type: "t", payload_base64: "AAEC" });
    const t = await call("GET", `/api/v1/tasks/${r.json.id}`);
    const documented = ["id", "type", "queue", "status", "priority", "priority_tier", "attempts", "max_retries", "lease_ms", "run_at_ms", "created_at_ms", "updated_at_ms", "started_at_ms", "finished_at_ms", "lease_expires_at_ms", "worker_id", "idempotency_key", "error", "payload_is_json", "payload_bytes", "result_is_json", "result_bytes"];
    for (const k of documented) expect(t.json).toHaveProperty(k);
    expect(t.json.payload_base64).toBe("AAEC");
    expect(t.json).toMatchObject({ queue: "default", priority: 150, max_retries: 3, lease_ms: 30000, payload_bytes: 3 });
  });

  test("a payload marked JSON over TCP that is not JSON is shown as payload_base64", async () => {
    const c = await DocsClient.open(broker.port);
    const s = await c.ok({ kind: "SubmitTask", task: spec("t", { payloadIsJson: true, payload: { utf8: "{nope" } }) }, "Submitted");
    const t = await call("GET", `/api/v1/tasks/${s.id}`);
    expect(t.json.payload_base64).toBe(Buffer.from("{nope").toString("base64"));
    c.close();
  });

  test("errors: the documented shape; unknown fields, payload and payload_base64 together, deep JSON", async () => {
    const typo = await call("POST", "/api/v1/tasks", { type: "t", prority: 5 });
    expect(typo.status).toBe(400);
    expect(Object.keys(errorOf(typo.json)).sort()).toEqual(["code", "field", "message", "name", "retry_after_ms"]);
    expect(errorOf(typo.json)).toMatchObject({ code: 4, name: "InvalidField", field: "prority", retry_after_ms: null });
    const bad = await call("POST", "/api/v1/tasks", { tasks: [{ type: "a" }, { type: "b", priority: 300 }] });
    expect(bad.status).toBe(400);
    expect(errorOf(bad.json).field).toBe("tasks[1].priority");
    const both = await call("POST", "/api/v1/tasks", { type: "t", payload: 1, payload_base64: "AA==" });
    expect(both.status).toBe(400);
    let deep: unknown = 1;
    for (let i = 0; i < 513; i++) deep = [deep];
    const d = await call("POST", "/api/v1/tasks", { type: "t", payload: deep });
    expect(d.status).toBe(400);
    expect(errorOf(d.json).field).toBe("payload");
    expect(errorOf((await call("POST", "/api/v1/tasks", { type: "t", run_at_ms: "soon" })).json).field).toBe("run_at_ms");
    expect(errorOf((await call("POST", "/api/v1/tasks", { tasks: [{ type: "a" }, { type: "b", max_retries: 5000 }] })).json).field).toBe("tasks[1].max_retries");
  });

  test("a batch: 201 with tasks in order, all-or-nothing; 200 when every task was a duplicate", async () => {
    const body = { tasks: [{ type: "a", queue: "hb", idempotency_key: "h1" }, { type: "b", queue: "hb", idempotency_key: "h2" }] };
    const first = await call("POST", "/api/v1/tasks", body);
    expect(first.status).toBe(201);
    expect((first.json.tasks as Obj[]).length).toBe(2);
    const again = await call("POST", "/api/v1/tasks", body);
    expect(again.status).toBe(200);
    expect((again.json.tasks as Obj[]).map((t) => t.duplicate)).toEqual([true, true]);
    expect((again.json.tasks as Obj[]).map((t) => t.id)).toEqual((first.json.tasks as Obj[]).map((t) => t.id));
  });

  test("delay_ms schedules; result?wait_ms answers with the current state; cancel, retry and their 409s", async () => {
    const s = await call("POST", "/api/v1/tasks", { type: "t", queue: "hd", delay_ms: 60_000 });
    expect(s.json.status).toBe("scheduled");
    const t0 = Date.now();
    const w = await call("GET", `/api/v1/tasks/${s.json.id}/result?wait_ms=300`);
    expect(w.status).toBe(200);
    expect(w.json.status).toBe("scheduled");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect((await call("GET", `/api/v1/tasks/${s.json.id}/result?wait_ms=60001`)).status).toBe(400);
    const c = await call("DELETE", `/api/v1/tasks/${s.json.id}`);
    expect(c.status).toBe(200);
    expect(c.json.status).toBe("cancelled");
    const c2 = await call("DELETE", `/api/v1/tasks/${s.json.id}`);
    expect(c2.status).toBe(409);
    expect(errorOf(c2.json)).toMatchObject({ code: 9, name: "InvalidState" });
    const r = await call("POST", `/api/v1/tasks/${s.json.id}/retry`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: "pending", attempts: 0 });
    expect((await call("POST", `/api/v1/tasks/${s.json.id}/retry`)).status).toBe(409);
  });

  test("a body over the limit (about 22 MiB) is 413 FrameTooLarge field body, declared or chunked; invalid JSON is 400 field body", async () => {
    const big = await fetch(base + "/api/v1/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "t", payload: "x".repeat(23 * 1024 * 1024) }) });
    expect(big.status).toBe(413);
    const declared = ((await big.json()) as { error: Obj }).error;
    expect(declared).toMatchObject({ code: 2, name: "FrameTooLarge", field: "body" });
    expect(String(declared.message)).toContain("bytes declared");
    const chunk = new Uint8Array(1024 * 1024).fill(0x78);
    async function* chunks() {
      for (let i = 0; i < 30; i++) yield chunk;
    }
    const chunked = await fetch(base + "/api/v1/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: chunks() as unknown as RequestInit["body"], duplex: "half" } as RequestInit);
    expect(chunked.status).toBe(413);
    const streamed = ((await chunked.json()) as { error: Obj }).error;
    expect(streamed).toMatchObject({ code: 2, field: "body" });
    expect(String(streamed.message)).toContain("sent chunked");
    // A chunked body within the limit is served as any other.
    async function* small() {
      yield new TextEncoder().encode('{"type":"chunked-ok"}');
    }
    const ok = await fetch(base + "/api/v1/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: small() as unknown as RequestInit["body"], duplex: "half" } as RequestInit);
    expect(ok.status).toBe(201);
    const bad = await call("POST", "/api/v1/tasks", undefined);
    expect(bad.status).toBe(400);
    const broken = await fetch(base + "/api/v1/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" });
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: Obj }).error).toMatchObject({ code: 4, field: "body" });
  }, 30_000);

  test("an empty non-JSON result is no result (null on both doors); a failure's result and a completion's error are ignored", async () => {
    const c = await DocsClient.open(broker.port);
    await c.ok({ kind: "SubmitBatch", tasks: [spec("e", { queue: "hempty" }), spec("e", { queue: "hempty" })] }, "SubmittedBatch");
    const [a, b] = (await c.ok({ kind: "ClaimTask", queues: ["hempty"], max: 2, waitMs: 0 }, "Claimed")).tasks as Obj[];
    await c.ok({ kind: "TaskResult", id: a!.id as string, token: a!.token as number, outcome: "completed", resultIsJson: false, result: { utf8: "" }, error: "not kept" }, "Ack");
    await c.ok({ kind: "TaskResult", id: b!.id as string, token: b!.token as number, outcome: "failed", resultIsJson: true, result: { utf8: "[1]" }, error: "boom" }, "FailOutcome");
    expect((await call("GET", `/api/v1/tasks/${a!.id}`)).json).toMatchObject({ status: "completed", result: null, error: null, result_bytes: null });
    expect((await c.ok({ kind: "QueryStatus", id: a!.id as string }, "TaskInfo")).task).toMatchObject({ result: null, resultIsJson: false, error: null });
    expect((await call("GET", `/api/v1/tasks/${b!.id}`)).json).toMatchObject({ status: "failed", result: null, error: "boom" });
    c.close();
  });

  test("ids: malformed is 400 InvalidField, unknown 404 NotFound", async () => {
    const m = await call("GET", "/api/v1/tasks/not-a-uuid");
    expect(m.status).toBe(400);
    expect(errorOf(m.json).code).toBe(4);
    const u = await call("GET", "/api/v1/tasks/01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90");
    expect(u.status).toBe(404);
    expect(errorOf(u.json)).toMatchObject({ code: 8, name: "NotFound" });
  });

  test("list: filters, pages until next_cursor is null, no bodies; limit 1001 is 400", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(String((await call("POST", "/api/v1/tasks", { type: "lst", queue: "hl", payload: { i } })).json.id));
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 20; i++) {
      const page = await call("GET", `/api/v1/tasks?queue=hl&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(page.status).toBe(200);
      for (const t of page.json.tasks as Obj[]) {
        expect(t).not.toHaveProperty("payload");
        seen.push(String(t.id));
      }
      cursor = page.json.next_cursor as string | null;
      if (cursor === null) break;
    }
    expect(seen).toEqual(ids);
    const newest = await call("GET", "/api/v1/tasks?queue=hl&order=newest&limit=1");
    expect((newest.json.tasks as Obj[])[0]!.id).toBe(ids[4]);
    expect((await call("GET", "/api/v1/tasks?limit=1001")).status).toBe(400);
  });
});

describe("operator routes", () => {
  test("inspect, raw, delete (409 while running), bulk (dry run, then act until done), purge", async () => {
    const s = await call("POST", "/api/v1/tasks", { type: "op", queue: "hop", payload: { a: 1 } });
    const page = (await call("GET", `/api/v1/tasks/${s.json.id}/inspect`)).json;
    for (const k of ["task", "payload", "result", "runs", "lease", "waiting", "timeline"]) expect(page).toHaveProperty(k);
    expect(page.payload).toMatchObject({ bytes: 7, shown_as: "json", download: `/api/v1/tasks/${s.json.id}/raw/payload` });
    const raw = await fetch(base + `/api/v1/tasks/${s.json.id}/raw/payload`);
    expect(raw.status).toBe(200);
    expect(await raw.text()).toBe('{"a":1}');
    const c = await DocsClient.open(broker.port);
    await c.ok({ kind: "ClaimTask", queues: ["hop"], max: 1, waitMs: 0 }, "Claimed");
    expect((await call("POST", `/api/v1/tasks/${s.json.id}/delete`)).status).toBe(409);
    c.close();
    const d = await call("POST", "/api/v1/tasks", { type: "op", queue: "hop2" });
    const del = await call("POST", `/api/v1/tasks/${d.json.id}/delete`);
    expect(del.status).toBe(200);
    expect(del.json.id).toBe(d.json.id);
    expect((await call("GET", `/api/v1/tasks/${d.json.id}`)).status).toBe(404);
    for (let i = 0; i < 3; i++) await call("POST", "/api/v1/tasks", { type: "op", queue: "hbulk" });
    const dry = await call("POST", "/api/v1/tasks/bulk", { action: "cancel", status: "pending", queue: "hbulk", dry_run: true });
    expect(dry.json).toMatchObject({ action: "cancel", matched: 3, changed: 0 });
    const act = await call("POST", "/api/v1/tasks/bulk", { action: "cancel", status: "pending", queue: "hbulk", max: 2 });
    expect(act.json).toMatchObject({ changed: 2, done: false });
    const rest = await call("POST", "/api/v1/tasks/bulk", { action: "cancel", status: "pending", queue: "hbulk" });
    expect(rest.json).toMatchObject({ changed: 1, done: true });
    expect((await call("POST", "/api/v1/tasks/bulk", { action: "retry", queue: "hbulk" })).status).toBe(400);
    for (let i = 0; i < 2; i++) await call("POST", "/api/v1/tasks", { type: "op", queue: "hpurge" });
    await call("POST", "/api/v1/queues/hpurge/purge", {});
    const left = await call("GET", "/api/v1/tasks?queue=hpurge");
    expect(left.json.tasks).toEqual([]);
  });
});

describe("queues, workers, stats, health", () => {
  test("queues: documented keys; pause and resume answer {name, paused}", async () => {
    await call("POST", "/api/v1/tasks", { type: "t", queue: "hq", priority: "low" });
    const p = await call("POST", "/api/v1/queues/hq/pause");
    expect(p.status).toBe(200);
    expect(p.json).toEqual({ name: "hq", paused: true });
    const q = ((await call("GET", "/api/v1/queues")).json.queues as Obj[]).find((x) => x.name === "hq")!;
    for (const k of ["name", "pending", "pending_total", "scheduled", "in_progress", "oldest_ready_age_ms", "paused", "retrying", "completed", "dead", "cancelled", "completed_per_min", "failed_per_min", "failure_rate"]) expect(q).toHaveProperty(k);
    expect(q).toMatchObject({ paused: true, pending: { high: 0, normal: 0, low: 1 }, pending_total: 1 });
    expect((await call("POST", "/api/v1/queues/hq/resume")).json).toEqual({ name: "hq", paused: false });
  });

  test("workers: the documented keys, command as a name", async () => {
    const c = await DocsClient.open(broker.port);
    await c.ok({ kind: "RegisterWorker", workerId: "hw", hostname: "h", pid: 3, queues: [], concurrency: 2, version: "9", labels: [] }, "Registered");
    const w = ((await call("GET", "/api/v1/workers")).json.workers as Obj[]).find((x) => x.id === "hw")!;
    for (const k of ["id", "status", "address", "hostname", "pid", "queues", "concurrency", "version", "labels", "registered_at_ms", "last_seen_at_ms", "disconnected_at_ms", "dead_at_ms", "cpu_percent", "memory_mb", "in_flight", "auto_registered", "command", "running", "running_count"]) expect(w).toHaveProperty(k);
    expect(w).toMatchObject({ status: "alive", command: "none", running: [], running_count: 0 });
    const q = await call("POST", "/api/v1/workers/hw/quiet");
    expect(q.json).toMatchObject({ id: "hw", status: "quiet", command: "quiet" });
    c.close();
  });

  test("stats: the documented keys in snake_case", async () => {
    const s = (await call("GET", "/api/v1/stats")).json;
    for (const k of ["uptime_ms", "tasks", "workers", "parked_claims", "result_waiters", "paused_queues", "totals", "background"]) expect(s).toHaveProperty(k);
    for (const k of ["submitted", "claimed", "completed", "failed", "dead", "reclaimed", "queue_full"]) expect(s.totals).toHaveProperty(k);
    for (const k of ["pending", "scheduled", "in_progress", "queues", "retrying", "completed", "dead", "cancelled"]) expect(s.tasks).toHaveProperty(k);
  });

  test("healthz, readyz, openapi.json, whoami; 405 with Allow; unknown route 404", async () => {
    const pkg = (await Bun.file(new URL("../../package.json", import.meta.url)).json()) as { version: string };
    expect((await call("GET", "/healthz")).json).toEqual({ status: "ok", version: pkg.version });
    const ready = await call("GET", "/readyz");
    expect(ready.status).toBe(200);
    expect(ready.json.status).toBe("ready");
    for (const k of ["store", "disk", "broker.port", "api.grpc_port"]) expect((ready.json.checks as Obj)[k]).toMatchObject({ ok: true });
    const api = await call("GET", "/api/v1/openapi.json");
    expect(String(api.json.openapi)).toMatch(/^3\.1/);
    expect((await call("GET", "/api/v1/whoami")).json).toHaveProperty("role");
    const m = await call("PUT", "/api/v1/tasks");
    expect(m.status).toBe(405);
    expect(m.headers.get("allow")).toContain("POST");
    expect(errorOf(m.json).name).toBe("NotFound");
    const nf = await call("GET", "/api/v1/nothing-here");
    expect(nf.status).toBe(404);
    expect(errorOf(nf.json).code).toBe(8);
  });
});

describe("QueueFull on both doors", () => {
  let small: TestBroker;
  beforeAll(async () => {
    small = await startBroker({ "broker.queue_depth_threshold": 3 });
  });
  afterAll(async () => {
    await small.stop();
  });

  test("TCP: code 11 with retryAfterMs 1000 past the threshold, a whole batch refused; HTTP: 429 with Retry-After", async () => {
    const c = await DocsClient.open(small.port);
    await c.ok({ kind: "SubmitBatch", tasks: [spec("a"), spec("b")] }, "SubmittedBatch");
    expect(await c.call({ kind: "SubmitBatch", tasks: [spec("c"), spec("d")] })).toMatchObject({ kind: "Error", code: 11, retryAfterMs: 1000 });
    await c.ok({ kind: "SubmitTask", task: spec("c", { runAtMs: Date.now() + 60_000 }) }, "Submitted"); // scheduled does not count
    await c.ok({ kind: "SubmitTask", task: spec("c") }, "Submitted");
    expect(await c.call({ kind: "SubmitTask", task: spec("e") })).toMatchObject({ kind: "Error", code: 11, retryAfterMs: 1000 });
    const r = await fetch(`http://127.0.0.1:${small.httpPort}/api/v1/tasks`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "x" }) });
    expect(r.status).toBe(429);
    expect(r.headers.get("retry-after")).not.toBeNull();
    expect(((await r.json()) as { error: Obj }).error).toMatchObject({ code: 11, name: "QueueFull", retry_after_ms: 1000 });
    c.close();
  });
});

describe("HTTP auth", () => {
  let authed: TestBroker;
  beforeAll(async () => {
    authed = await startBroker({ "auth.enabled": true, "auth.api_keys": [{ name: "shop", role: "producer", key: "prod-key-0000001" }, { name: "ops", role: "admin", key: "admin-key-000001" }] });
  });
  afterAll(async () => {
    await authed.stop();
  });
  const req = (method: string, path: string, key?: string) =>
    fetch(`http://127.0.0.1:${authed.httpPort}${path}`, { method, headers: key ? { authorization: `Bearer ${key}` } : {} });

  test("no key 401 Unauthorized, a role that may not 403 Forbidden, health and openapi open, whoami names the key", async () => {
    const none = await req("GET", "/api/v1/stats");
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: Obj }).error).toMatchObject({ code: 6, name: "Unauthorized" });
    const wrong = await req("GET", "/api/v1/stats", "not-a-key-000000");
    expect(wrong.status).toBe(401);
    const forbidden = await req("POST", "/api/v1/queues/x/pause", "prod-key-0000001");
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { error: Obj }).error).toMatchObject({ code: 7, name: "Forbidden" });
    expect((await req("GET", "/api/v1/stats", "prod-key-0000001")).status).toBe(200);
    expect(await (await req("GET", "/api/v1/whoami", "prod-key-0000001")).json()).toEqual({ name: "shop", role: "producer" });
    for (const open of ["/healthz", "/readyz", "/api/v1/openapi.json"]) expect((await req("GET", open)).status).toBe(200);
    expect((await req("POST", "/api/v1/queues/x/pause", "admin-key-000001")).status).toBe(200);
  });
});
