// The operator routes of issue 24 over real HTTP on a real broker: a task's page (payload views,
// runs, lease, timeline, why it waits), the raw download, delete, bulk actions by filter with their
// dry run and bad input, purge, the last hour of activity, the overview and its event stream; an SDK
// worker's declared types (tq.types) behind "no live worker handles its type".
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Worker } from "../../src/client/worker.ts";
import { MAX_HEX_BYTES, MAX_SHOWN_CHARS } from "../../src/http/task-view.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { tickedAt } from "../helpers/broker.ts";
import { startHarness, type Harness } from "../helpers/http-harness.ts";

let h: Harness;
const clock = new FakeClock();

beforeAll(async () => {
  h = await startHarness({ clock });
});

afterAll(async () => {
  await h.stop();
});

async function submit(task: Record<string, unknown>): Promise<string> {
  const reply = await h.call("POST", "/api/v1/tasks", { body: task });
  expect(reply.status).toBe(201);
  return reply.body.id;
}

/** Claims one task of `queue` for `workerId` and fails it with `error` (dead when it has no retries left). */
async function runAndFail(queue: string, workerId: string, error: string): Promise<string> {
  const [lease] = await h.broker.claim({ queues: [queue], workerId, max: 1, waitMs: 0 });
  await h.broker.fail({ id: lease!.task.id, token: lease!.token }, { error, unrecoverable: false });
  return lease!.task.id;
}

const inspect = async (id: string): Promise<any> => {
  const reply = await h.call("GET", `/api/v1/tasks/${id}/inspect`);
  expect(reply.status).toBe(200);
  return reply.body;
};

describe("a task's page", () => {
  test("a dead task: its last error with the stack, every run, the timeline, pretty JSON payload", async () => {
    const stack = "SMTPError: 550 mailbox unavailable\n    at send (mailer.js:41:11)";
    const id = await submit({ type: "email.send", queue: "page-dead", payload: { to: "ada@example.com" }, max_retries: 1 });
    await runAndFail("page-dead", "w-a", "TimeoutError: first");
    await tickedAt(h.app, clock, (await h.broker.get(id)).runAtMs!);
    await runAndFail("page-dead", "w-b", stack);
    const v = await inspect(id);
    expect(v.task.status).toBe("dead");
    expect(v.task.error).toBe(stack);
    expect(v.payload).toMatchObject({ shown_as: "json", text: '{\n  "to": "ada@example.com"\n}', truncated: false, download: `/api/v1/tasks/${id}/raw/payload` });
    expect(v.runs.map((r: any) => [r.worker_id, r.outcome, r.error])).toEqual([["w-a", "failed", "TimeoutError: first"], ["w-b", "dead", stack]]);
    expect(v.runs.every((r: any) => typeof r.duration_ms === "number" && r.duration_ms >= 0)).toBe(true);
    expect(v.timeline.map((e: any) => e.event)).toEqual(["submitted", "claimed", "failed", "claimed", "dead"]);
    expect(v.waiting).toEqual([]);
    expect(v.lease).toBeNull();
  });

  test("bytes are a hex dump cut at MAX_HEX_BYTES; the download gives them whole", async () => {
    const bytes = new Uint8Array(MAX_HEX_BYTES + 100).map((_, i) => i % 256);
    const id = await submit({ type: "blob", queue: "page-bytes", payload_base64: Buffer.from(bytes).toString("base64") });
    const v = await inspect(id);
    expect(v.payload.shown_as).toBe("hex");
    expect(v.payload.truncated).toBe(true);
    expect(v.payload.bytes).toBe(bytes.byteLength);
    expect(v.payload.text.split("\n")[0]).toBe("00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  ................");
    expect(v.payload.text.split("\n")).toHaveLength(MAX_HEX_BYTES / 16);
    const raw = await fetch(`${h.http.url}${v.payload.download}`);
    expect(raw.headers.get("content-type")).toBe("application/octet-stream");
    expect(raw.headers.get("content-disposition")).toBe(`attachment; filename="${id}-payload.bin"`);
    expect(new Uint8Array(await raw.arrayBuffer())).toEqual(bytes);
  });

  test("a large JSON payload is still pretty-printed, then cut, with the whole of it to download", async () => {
    const items = Array.from({ length: 4000 }, (_, i) => ({ sku: `item-${i}`, qty: i }));
    const id = await submit({ type: "order.import", queue: "page-big", payload: { items } });
    const v = await inspect(id);
    expect(v.payload.shown_as).toBe("json");
    expect(v.payload.truncated).toBe(true);
    expect(v.payload.text.length).toBe(MAX_SHOWN_CHARS);
    expect(v.payload.text.startsWith('{\n  "items": [\n    {\n      "sku": "item-0",\n      "qty": 0\n    },')).toBe(true);
    const raw = await fetch(`${h.http.url}${v.payload.download}`);
    expect(raw.headers.get("content-type")).toBe("application/json");
    expect(await raw.json()).toEqual({ items });
  });

  test("a running task: its lease and worker; a waiting one says why, and what is ahead of it", async () => {
    h.broker.registerWorker({ id: "w-run", hostname: "box", pid: 1, queues: ["page-run"], concurrency: 1, version: "1", labels: {} });
    const running = await submit({ type: "x", queue: "page-run" });
    const [lease] = await h.broker.claim({ queues: ["page-run"], workerId: "w-run", max: 1, waitMs: 0 });
    expect(lease!.task.id).toBe(running);
    const v = await inspect(running);
    expect(v.lease).toMatchObject({ worker_id: "w-run", expires_at_ms: lease!.expiresAtMs, worker: { id: "w-run", hostname: "box" } });
    expect(v.timeline.map((e: any) => e.event)).toEqual(["submitted", "claimed"]);
    const high = await submit({ type: "x", queue: "page-run", priority: 250 });
    const low = await submit({ type: "x", queue: "page-run", priority: 10 });
    const why = (await inspect(low)).waiting;
    expect(why.map((w: any) => w.code)).toEqual(["workers_busy", "behind"]);
    expect(why[1]).toMatchObject({ count: 1, message: expect.stringContaining("1 of higher priority") });
    expect((await inspect(high)).waiting.map((w: any) => w.code)).toEqual(["workers_busy"]);
    await h.call("POST", "/api/v1/queues/page-run/pause");
    expect((await inspect(high)).waiting.map((w: any) => w.code)).toEqual(["paused", "workers_busy"]);
    await h.call("POST", "/api/v1/queues/page-run/resume");
    const orphan = await submit({ type: "x", queue: "page-nobody", delay_ms: 60_000 });
    const reasons = (await inspect(orphan)).waiting;
    expect(reasons.map((w: any) => w.code)).toEqual(["scheduled", "no_worker"]);
    expect(reasons[0].until_ms).toBe(clock.now() + 60_000);
  });

  test("a task no live worker of its queue handles: the SDK worker says which types it handles, and the page names them", async () => {
    const worker = new Worker({ url: `tq://127.0.0.1:${h.app.port}`, env: {}, handleSignals: false, queues: ["typed"], workerId: "w-typed" });
    worker.register("image.resize", async () => "ok");
    worker.register("image.crop", async () => "ok");
    await worker.start();
    try {
      const id = await submit({ type: "video.encode", queue: "typed", max_retries: 5 });
      // The worker takes it anyway (workers claim by queue) and fails it: no handler.
      for (let i = 0; i < 500 && (await h.broker.get(id)).status !== "failed"; i++) await Bun.sleep(10);
      const v = await inspect(id);
      expect(v.task.error).toContain("no handler registered for task type");
      expect(v.waiting.map((w: any) => w.code)).toEqual(["backing_off", "no_handler"]);
      expect(v.waiting[1].message).toBe('No live worker serving queue "typed" handles type "video.encode": the 1 that serve it handle "image.crop", "image.resize".');
      expect((await h.call("GET", "/api/v1/workers")).body.workers.find((w: any) => w.id === "w-typed").labels).toEqual({ "tq.types": '["image.crop","image.resize"]' });
    } finally {
      await worker.stop({ timeoutMs: 0 });
    }
  });

  test("bad ids and parts are InvalidField; unknown ids NotFound; a result that does not exist is named", async () => {
    expect((await h.call("GET", "/api/v1/tasks/nope/inspect")).body.error).toMatchObject({ name: "InvalidField", field: "id" });
    expect((await h.call("GET", "/api/v1/tasks/0190f3a2-7b1c-7def-8a12-3456789abcde/inspect")).status).toBe(404);
    const id = await submit({ type: "x", queue: "page-parts" });
    expect((await h.call("GET", `/api/v1/tasks/${id}/raw/other`)).body.error).toMatchObject({ name: "InvalidField", field: "part" });
    const none = await h.call("GET", `/api/v1/tasks/${id}/raw/result`);
    expect(none.status).toBe(400);
    expect(none.body.error.message).toBe(`part: task ${id} has no result (it is pending)`);
  });
});

describe("delete", () => {
  test("a waiting or finished task goes for good; a running one is 409; a body is refused", async () => {
    const waiting = await submit({ type: "x", queue: "del" });
    expect((await h.call("POST", `/api/v1/tasks/${waiting}/delete`, { body: { force: true } })).status).toBe(400);
    const gone = await h.call("POST", `/api/v1/tasks/${waiting}/delete`);
    expect(gone.status).toBe(200);
    expect(gone.body).toMatchObject({ id: waiting, status: "pending" });
    expect((await h.call("GET", `/api/v1/tasks/${waiting}`)).status).toBe(404);
    const running = await submit({ type: "x", queue: "del" });
    await h.broker.claim({ queues: ["del"], workerId: "w-del", max: 1, waitMs: 0 });
    const refused = await h.call("POST", `/api/v1/tasks/${running}/delete`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.name).toBe("InvalidState");
    expect((await h.call("GET", `/api/v1/tasks/${running}`)).body.status).toBe("in_progress");
  });
});

describe("bulk actions", () => {
  test("retry every dead task of a queue and type: the dry run counts, the call re-runs exactly those", async () => {
    for (let i = 0; i < 3; i++) await submit({ type: "mail.send", queue: "bulk-q", max_retries: 0 });
    await submit({ type: "mail.other", queue: "bulk-q", max_retries: 0 });
    for (let i = 0; i < 4; i++) await runAndFail("bulk-q", "w-bulk", "boom");
    const body = { action: "retry", status: "dead", queue: "bulk-q", type: "mail.send" };
    const dry = await h.call("POST", "/api/v1/tasks/bulk", { body: { ...body, dry_run: true } });
    expect(dry.body).toEqual({ action: "retry", matched: 3, changed: 0, skipped: 0, done: false });
    expect((await h.call("GET", "/api/v1/tasks?status=dead&queue=bulk-q")).body.tasks).toHaveLength(4);
    const first = await h.call("POST", "/api/v1/tasks/bulk", { body: { ...body, max: 2 } });
    expect(first.body).toEqual({ action: "retry", matched: 3, changed: 2, skipped: 0, done: false });
    const rest = await h.call("POST", "/api/v1/tasks/bulk", { body });
    expect(rest.body).toEqual({ action: "retry", matched: 1, changed: 1, skipped: 0, done: true });
    const dead = (await h.call("GET", "/api/v1/tasks?status=dead&queue=bulk-q")).body.tasks;
    expect(dead.map((t: any) => t.type)).toEqual(["mail.other"]);
    expect((await h.call("GET", "/api/v1/tasks?status=pending&queue=bulk-q&type=mail.send")).body.tasks).toHaveLength(3);
  });

  test("delete dead older than X leaves the newer ones; cancel all pending of a type", async () => {
    await submit({ type: "old", queue: "bulk-age", max_retries: 0 });
    await runAndFail("bulk-age", "w-age", "old failure");
    clock.advance(3_600_000);
    await submit({ type: "old", queue: "bulk-age", max_retries: 0 });
    await runAndFail("bulk-age", "w-age", "new failure");
    const del = await h.call("POST", "/api/v1/tasks/bulk", { body: { action: "delete", status: "dead", queue: "bulk-age", older_than_ms: 1_800_000 } });
    expect(del.body).toMatchObject({ matched: 1, changed: 1, done: true });
    const left = (await h.call("GET", "/api/v1/tasks?status=dead&queue=bulk-age")).body.tasks;
    expect(left.map((t: any) => t.error)).toEqual(["new failure"]);
    await submit({ type: "spam", queue: "bulk-cancel" });
    await submit({ type: "spam", queue: "bulk-cancel" });
    const keep = await submit({ type: "ham", queue: "bulk-cancel" });
    const cancel = await h.call("POST", "/api/v1/tasks/bulk", { body: { action: "cancel", status: "pending", type: "spam" } });
    expect(cancel.body).toMatchObject({ matched: 2, changed: 2, done: true });
    expect((await h.call("GET", `/api/v1/tasks/${keep}`)).body.status).toBe("pending");
  });

  test("bad bodies are InvalidField naming the field, in words a person reads", async () => {
    const cases: Array<[unknown, string, string]> = [
      [{ action: "retry" }, "status", "status: a bulk retry needs a status (one of dead, cancelled)"],
      [{ action: "delete", status: "in_progress" }, "status", "status: in_progress tasks cannot be deleted; delete takes pending, scheduled, failed, completed, dead, cancelled"],
      [{ action: "cancel", status: "dead" }, "status", "status: dead tasks cannot be cancelled; cancel takes pending, scheduled, failed, in_progress"],
      [{ action: "retry", status: "pending" }, "status", "status: pending tasks cannot be re-run; retry takes dead, cancelled"],
      [{ action: "nuke", status: "dead" }, "action", 'action: expected one of retry, cancel, delete, got "nuke"'],
      [{ action: "retry", status: "dead", queue: "no spaces please" }, "queue", ""],
      [{ action: "retry", status: "dead", older_than_ms: -1 }, "older_than_ms", ""],
      [{ action: "retry", status: "dead", everything: true }, "everything", ""],
      [[1], "body", "body: expected a JSON object"],
    ];
    for (const [body, field, message] of cases) {
      const reply = await h.call("POST", "/api/v1/tasks/bulk", { body });
      expect({ body, status: reply.status, field: reply.body.error.field }).toEqual({ body, status: 400, field });
      if (message !== "") expect(reply.body.error.message).toBe(message);
    }
  });
});

describe("purge", () => {
  test("deletes the waiting tasks of one queue after a dry run; running and other queues' tasks stay", async () => {
    const running = await submit({ type: "x", queue: "purge-me" });
    await h.broker.claim({ queues: ["purge-me"], workerId: "w-purge", max: 1, waitMs: 0 });
    await submit({ type: "x", queue: "purge-me" });
    await submit({ type: "x", queue: "purge-me", delay_ms: 60_000 });
    await submit({ type: "x", queue: "purge-me", max_retries: 1 });
    await runAndFail("purge-me", "w-purge", "retry me later");
    const other = await submit({ type: "x", queue: "purge-not-me" });
    const dry = await h.call("POST", "/api/v1/queues/purge-me/purge", { body: { dry_run: true } });
    expect(dry.body).toMatchObject({ action: "delete", matched: 3, changed: 0 });
    const done = await h.call("POST", "/api/v1/queues/purge-me/purge");
    expect(done.body).toMatchObject({ matched: 3, changed: 3, done: true });
    const left = (await h.call("GET", "/api/v1/tasks?queue=purge-me")).body.tasks;
    expect(left.map((t: any) => [t.id, t.status])).toEqual([[running, "in_progress"]]);
    expect((await h.call("GET", `/api/v1/tasks/${other}`)).body.status).toBe("pending");
    expect((await h.call("POST", "/api/v1/queues/bad%20name/purge")).body.error.field).toBe("name");
  });
});

describe("activity, overview and the event stream", () => {
  test("the last hour in 10 s slots counts submits, completions and failures", async () => {
    const before = (await h.call("GET", "/api/v1/activity")).body;
    expect(before.slot_ms).toBe(10_000);
    expect(before.points).toHaveLength(360);
    const last = (b: any): any => b.points[b.points.length - 1];
    const base = last(before);
    await submit({ type: "x", queue: "act" });
    await submit({ type: "x", queue: "act", max_retries: 0 });
    const [a] = await h.broker.claim({ queues: ["act"], workerId: "w-act", max: 1, waitMs: 0 });
    await h.broker.complete({ id: a!.task.id, token: a!.token }, { result: null, resultIsJson: false });
    await runAndFail("act", "w-act", "no");
    const after = last((await h.call("GET", "/api/v1/activity")).body);
    expect(after.at_ms).toBe(base.at_ms);
    expect([after.submitted - base.submitted, after.completed - base.completed, after.failed - base.failed]).toEqual([2, 1, 1]);
    const queue = (await h.call("GET", "/api/v1/overview")).body.queues.find((q: any) => q.name === "act");
    expect(queue).toMatchObject({ dead: 1, completed: 1, failure_rate: 0.5 });
  });

  test("the event stream sends the overview at once, then again when it changes", async () => {
    const abort = new AbortController();
    const res = await fetch(`${h.http.url}/api/v1/events`, { signal: abort.signal });
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const nextOverview = async (): Promise<any> => {
      for (;;) {
        const at = text.indexOf("event: overview\ndata: ");
        const end = at < 0 ? -1 : text.indexOf("\n\n", at);
        if (end >= 0) {
          const data = JSON.parse(text.slice(at + "event: overview\ndata: ".length, end));
          text = text.slice(end + 2);
          return data;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("stream ended");
        text += decoder.decode(value, { stream: true });
      }
    };
    const first = await nextOverview();
    await submit({ type: "x", queue: "sse-live" });
    clock.advance(1000);
    const second = await nextOverview();
    expect(second.tasks.pending).toBe(first.tasks.pending + 1);
    expect(second.queues.find((q: any) => q.name === "sse-live")).toMatchObject({ pending_total: 1 });
    abort.abort();
  });
});
