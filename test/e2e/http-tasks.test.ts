// The task routes over real HTTP against a real Broker and SQLite store: submit (one, batch,
// JSON and base64 payloads), read, wait for a result, cancel, retry, list with pagination, and
// the error reply of each route.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startHarness, type Harness } from "../helpers/http-harness.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h.stop();
});

const MISSING_ID = "0190a5a0-0000-7000-8000-00000000abcd";

function expectError(reply: { status: number; body: any }, status: number, name: string, field?: string): void {
  expect(reply.status).toBe(status);
  expect(reply.body.error.name).toBe(name);
  expect(typeof reply.body.error.code).toBe("number");
  expect(reply.body.error.message.length).toBeGreaterThan(0);
  if (field !== undefined) expect(reply.body.error.field).toBe(field);
}

/** Claims one task of `queue` straight from the broker, as a worker would over TCP. */
async function claimOne(queue: string) {
  const leases = await h.broker.claim({ workerId: "w-http", queues: [queue], max: 1, waitMs: 0 });
  expect(leases.length).toBe(1);
  return leases[0]!;
}

describe("POST /api/v1/tasks", () => {
  test("one task with a JSON payload is stored and read back as JSON", async () => {
    const sent = await h.call("POST", "/api/v1/tasks", { body: { type: "email", queue: "mail", payload: { to: "a@b.c", n: [1, 2] }, priority: "high" } });
    expect(sent.status).toBe(201);
    expect(sent.body).toMatchObject({ status: "pending", duplicate: false });
    const got = await h.call("GET", `/api/v1/tasks/${sent.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      id: sent.body.id,
      type: "email",
      queue: "mail",
      status: "pending",
      priority: 255,
      priority_tier: "high",
      payload: { to: "a@b.c", n: [1, 2] },
      payload_is_json: true,
      result: null,
      attempts: 0,
    });
    expect(got.body.payload_base64).toBeUndefined();
  });

  test("payload_base64 carries opaque bytes and is read back as base64", async () => {
    const bytes = Buffer.from([0, 255, 1, 254, 10]);
    const sent = await h.call("POST", "/api/v1/tasks", { body: { type: "blob", payload_base64: bytes.toString("base64") } });
    expect(sent.status).toBe(201);
    const got = await h.call("GET", `/api/v1/tasks/${sent.body.id}`);
    expect(got.body.payload_base64).toBe(bytes.toString("base64"));
    expect(got.body.payload_is_json).toBe(false);
    expect(got.body.queue).toBe("default");
  });

  test("a batch is accepted in order; delay_ms makes a task scheduled", async () => {
    const sent = await h.call("POST", "/api/v1/tasks", {
      body: { tasks: [{ type: "a", queue: "batch" }, { type: "b", queue: "batch", delay_ms: 3_600_000 }] },
    });
    expect(sent.status).toBe(201);
    expect(sent.body.tasks.map((t: any) => t.status)).toEqual(["pending", "scheduled"]);
    const second = await h.call("GET", `/api/v1/tasks/${sent.body.tasks[1].id}`);
    expect(second.body.type).toBe("b");
    expect(second.body.run_at_ms).toBeGreaterThan(Date.now());
  });

  test("an idempotent duplicate answers 200 with the first task's id", async () => {
    const first = await h.call("POST", "/api/v1/tasks", { body: { type: "once", idempotency_key: "http-idem-1" } });
    const again = await h.call("POST", "/api/v1/tasks", { body: { type: "once", idempotency_key: "http-idem-1" } });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, duplicate: true });
  });

  test("bad bodies are InvalidField naming the field, and store nothing", async () => {
    const before = (await h.broker.stats()).tasks.pending;
    expectError(await h.call("POST", "/api/v1/tasks", { rawBody: "{not json" }), 400, "InvalidField", "body");
    expectError(await h.call("POST", "/api/v1/tasks", { rawBody: "" }), 400, "InvalidField", "body");
    expectError(await h.call("POST", "/api/v1/tasks", { body: { queue: "x" } }), 400, "InvalidField", "type");
    expectError(await h.call("POST", "/api/v1/tasks", { body: { type: "t", priority: 300 } }), 400, "InvalidField", "priority");
    expectError(await h.call("POST", "/api/v1/tasks", { body: { type: "t", queue: "bad queue!" } }), 400, "InvalidField", "queue");
    expectError(await h.call("POST", "/api/v1/tasks", { body: { type: "t", prio: 1 } }), 400, "InvalidField", "prio");
    expectError(await h.call("POST", "/api/v1/tasks", { body: { type: "t", payload: 1, payload_base64: "AA==" } }), 400, "InvalidField", "payload");
    expectError(await h.call("POST", "/api/v1/tasks", { body: { type: "t", payload_base64: "@@@" } }), 400, "InvalidField", "payload_base64");
    expectError(await h.call("POST", "/api/v1/tasks", { body: { type: "t", delay_ms: -5 } }), 400, "InvalidField", "delay_ms");
    expectError(await h.call("POST", "/api/v1/tasks", { body: { tasks: [] } }), 400, "InvalidField", "tasks");
    // The whole batch is refused when one task is bad, and the error names which one.
    expectError(await h.call("POST", "/api/v1/tasks", { body: { tasks: [{ type: "ok" }, { type: "t", max_retries: -1 }] } }), 400, "InvalidField", "tasks[1].max_retries");
    expect((await h.broker.stats()).tasks.pending).toBe(before);
  });
});

describe("GET /api/v1/tasks/{id} and /result", () => {
  test("unknown ids are NotFound and malformed ids InvalidField", async () => {
    const missing = await h.call("GET", `/api/v1/tasks/${MISSING_ID}`);
    expectError(missing, 404, "NotFound", "id");
    expect(missing.body.error.message).toContain(MISSING_ID);
    expectError(await h.call("GET", "/api/v1/tasks/not-a-uuid"), 400, "InvalidField", "id");
    expectError(await h.call("GET", `/api/v1/tasks/${MISSING_ID}/result`), 404, "NotFound", "id");
  });

  test("a waiting result request answers when the task completes, with the JSON result", async () => {
    const sent = await h.call("POST", "/api/v1/tasks", { body: { type: "sum", queue: "results", payload: [1, 2] } });
    const waiting = h.call("GET", `/api/v1/tasks/${sent.body.id}/result?wait_ms=30000`);
    const lease = await claimOne("results");
    await h.broker.complete({ id: lease.task.id, token: lease.token }, { result: new TextEncoder().encode('{"sum":3}'), resultIsJson: true });
    const done = await waiting;
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ id: sent.body.id, status: "completed", result: { sum: 3 }, result_is_json: true, worker_id: "w-http" });
  });

  test("wait_ms=0 answers at once with the task as it is; a bad wait_ms is InvalidField", async () => {
    const sent = await h.call("POST", "/api/v1/tasks", { body: { type: "slow", queue: "results-now" } });
    const now = await h.call("GET", `/api/v1/tasks/${sent.body.id}/result`);
    expect(now.body.status).toBe("pending");
    expectError(await h.call("GET", `/api/v1/tasks/${sent.body.id}/result?wait_ms=abc`), 400, "InvalidField", "wait_ms");
    expectError(await h.call("GET", `/api/v1/tasks/${sent.body.id}/result?wait_ms=9999999`), 400, "InvalidField", "wait_ms");
  });
});

/** Polls `check` across event-loop turns, at most `turns` times; true once it held. */
async function eventually(check: () => Promise<boolean>, turns = 500): Promise<boolean> {
  for (let i = 0; i < turns; i++) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return check();
}

test("a result wait the client gives up on frees its waiter in the broker", async () => {
  const sent = await h.call("POST", "/api/v1/tasks", { body: { type: "abandon", queue: "abandon" } });
  const base = (await h.broker.stats()).resultWaiters;
  const ac = new AbortController();
  const waiting = fetch(`${h.http.url}/api/v1/tasks/${sent.body.id}/result?wait_ms=60000`, { signal: ac.signal }).catch(() => "aborted");
  expect(await eventually(async () => (await h.broker.stats()).resultWaiters === base + 1)).toBe(true);
  ac.abort();
  expect(await waiting).toBe("aborted");
  expect(await eventually(async () => (await h.broker.stats()).resultWaiters === base)).toBe(true);
});

describe("DELETE /api/v1/tasks/{id} and POST .../retry", () => {
  test("cancel a pending task, then retry it; a second cancel is InvalidState", async () => {
    const sent = await h.call("POST", "/api/v1/tasks", { body: { type: "c", queue: "cancel" } });
    const cancelled = await h.call("DELETE", `/api/v1/tasks/${sent.body.id}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
    expectError(await h.call("DELETE", `/api/v1/tasks/${sent.body.id}`), 409, "InvalidState");
    const retried = await h.call("POST", `/api/v1/tasks/${sent.body.id}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ status: "pending", attempts: 0 });
  });

  test("retry of a pending task is InvalidState; unknown ids NotFound; a running task is cancelled and its lease ends", async () => {
    const sent = await h.call("POST", "/api/v1/tasks", { body: { type: "r", queue: "retry-rules" } });
    expectError(await h.call("POST", `/api/v1/tasks/${sent.body.id}/retry`), 409, "InvalidState");
    expectError(await h.call("POST", `/api/v1/tasks/${MISSING_ID}/retry`), 404, "NotFound");
    expectError(await h.call("DELETE", `/api/v1/tasks/${MISSING_ID}`), 404, "NotFound");
    const lease = await claimOne("retry-rules");
    const cancelled = await h.call("DELETE", `/api/v1/tasks/${sent.body.id}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: "cancelled", attempts: 0 });
    const late = await h.broker.complete({ id: lease.task.id, token: lease.token }, { result: null, resultIsJson: false }).catch((e: unknown) => e);
    expect((late as { code?: number }).code).toBe(10);
    expectError(await h.call("DELETE", `/api/v1/tasks/${sent.body.id}`), 409, "InvalidState");
    expectError(await h.call("POST", `/api/v1/tasks/${sent.body.id}/retry`, { body: { force: true } }), 400, "InvalidField", "body");
  });

  test("a dead task is re-run by retry", async () => {
    const sent = await h.call("POST", "/api/v1/tasks", { body: { type: "boom", queue: "dead", max_retries: 0 } });
    const lease = await claimOne("dead");
    const outcome = await h.broker.fail({ id: lease.task.id, token: lease.token }, { error: "exploded", unrecoverable: false });
    expect(outcome.status).toBe("dead");
    const dead = await h.call("GET", `/api/v1/tasks/${sent.body.id}`);
    expect(dead.body).toMatchObject({ status: "dead", error: "exploded", attempts: 1 });
    const retried = await h.call("POST", `/api/v1/tasks/${sent.body.id}/retry`);
    expect(retried.body).toMatchObject({ status: "pending", attempts: 0 });
  });
});

describe("GET /api/v1/tasks", () => {
  test("pages through a filtered list with the cursor, each task once, oldest first", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const sent = await h.call("POST", "/api/v1/tasks", { body: { type: "page", queue: "paging", payload: { i } } });
      ids.push(sent.body.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pageNo = 0; pageNo < 10; pageNo++) {
      const path: string = `/api/v1/tasks?queue=paging&limit=3${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
      const page = await h.call("GET", path);
      expect(page.status).toBe(200);
      expect(page.body.tasks.length).toBeLessThanOrEqual(3);
      for (const t of page.body.tasks) {
        expect(t.queue).toBe("paging");
        // Listings leave bodies out but keep their sizes.
        expect(t.payload).toBeUndefined();
        expect(t.payload_bytes).toBeGreaterThan(0);
        seen.push(t.id);
      }
      cursor = page.body.next_cursor;
      if (cursor === null) break;
    }
    expect(seen).toEqual(ids);
  });

  test("filters by status and type; bad parameters are InvalidField", async () => {
    await h.call("POST", "/api/v1/tasks", { body: { type: "filter-me", queue: "filters", delay_ms: 600_000 } });
    await h.call("POST", "/api/v1/tasks", { body: { type: "filter-me", queue: "filters" } });
    const scheduled = await h.call("GET", "/api/v1/tasks?queue=filters&status=scheduled");
    expect(scheduled.body.tasks.map((t: any) => t.status)).toEqual(["scheduled"]);
    const byType = await h.call("GET", "/api/v1/tasks?type=filter-me");
    expect(byType.body.tasks.length).toBe(2);
    expectError(await h.call("GET", "/api/v1/tasks?status=sleeping"), 400, "InvalidField", "status");
    expectError(await h.call("GET", "/api/v1/tasks?limit=0"), 400, "InvalidField", "limit");
    expectError(await h.call("GET", "/api/v1/tasks?limit=1001"), 400, "InvalidField", "limit");
  });
});

describe("routing", () => {
  test("an unknown path is NotFound; a wrong method is 405 with Allow", async () => {
    expectError(await h.call("GET", "/api/v1/nope"), 404, "NotFound");
    const wrong = await h.call("PUT", "/api/v1/tasks");
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toContain("POST");
    expect(wrong.body.error.name).toBe("NotFound");
  });

  test("StorageUnavailable (503, retryable) when the store cannot commit, and nothing is acknowledged", async () => {
    h.failCommits = true;
    try {
      const refused = await h.call("POST", "/api/v1/tasks", { body: { type: "t", queue: "disk-full" } });
      expectError(refused, 503, "StorageUnavailable");
    } finally {
      h.failCommits = false;
    }
    const list = await h.call("GET", "/api/v1/tasks?queue=disk-full");
    expect(list.body.tasks).toEqual([]);
  });
});
