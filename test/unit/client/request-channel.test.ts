// The client's connection behaviour against a scripted fake broker: every error code to its
// class, pipelining out of order, what a dropped connection means for sent requests, timeouts,
// waiting while disconnected, Hello contents, and a worker re-registering after a reconnect.
// Its waits are for the SDK's own timers and the fake broker's scripted replies: no broker timer.
import { afterEach, describe, expect, test } from "bun:test";
import { ERRORS, ErrorCode } from "../../../src/protocol/errors.ts";
import type { Response, TaskInfo } from "../../../src/protocol/messages.ts";
import { Client } from "../../../src/client/client.ts";
import { ClientClosedError, ConnectionError, ERROR_CLASSES, ForbiddenError, InternalError, InvalidFieldError, TimeoutError, TqError } from "../../../src/client/tq-error.ts";
import { Worker } from "../../../src/client/worker.ts";
import { FakeBroker } from "./fake-broker.ts";

const ID = "01890000-0000-7000-8000-000000000001";
const open: Array<{ close(): unknown }> = [];
let fake: FakeBroker;

afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
  fake?.stop();
});

function client(extra: ConstructorParameters<typeof Client>[0] = {}): Client {
  const c = new Client({ url: fake.url, env: {}, reconnect: { initialDelayMs: 10, maxDelayMs: 50 }, ...extra });
  open.push(c);
  return c;
}

function taskInfo(id: string): TaskInfo {
  return {
    id,
    status: "pending",
    type: "t",
    queue: "default",
    priority: 150,
    attempts: 0,
    maxRetries: 3,
    leaseMs: 30_000,
    runAtMs: null,
    createdAtMs: 1,
    updatedAtMs: 1,
    startedAtMs: null,
    finishedAtMs: null,
    leaseExpiresAtMs: null,
    workerId: null,
    idempotencyKey: null,
    payloadIsJson: true,
    payload: new TextEncoder().encode('"p"'),
    resultIsJson: false,
    result: null,
    error: null,
  };
}

describe("typed errors", () => {
  test("every code of the error table becomes its own class with code, field and retry hint", async () => {
    let code = 0;
    fake = await FakeBroker.start((req) => ({ kind: "Error", requestId: req.requestId, code, retryAfterMs: 250, field: "id", message: `code ${code}` }));
    const c = client();
    for (const [value, spec] of Object.entries(ERRORS)) {
      code = Number(value);
      const err = await c.status(ID).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ERROR_CLASSES[spec.name]);
      expect(err).toBeInstanceOf(TqError);
      const e = err as TqError;
      expect(e.code).toBe(code as TqError["code"]);
      expect(e.name).toBe(`${spec.name}Error`);
      expect(e.field).toBe("id");
      expect(e.retryAfterMs).toBe(250);
      expect(e.retryable).toBe(spec.retryable);
      expect(e.message).toBe(`code ${code}`);
    }
  });

  test("a code this build does not know is an InternalError that names it", async () => {
    fake = await FakeBroker.start((req) => ({ kind: "Error", requestId: req.requestId, code: 999, retryAfterMs: 0, field: "", message: "new" }));
    const err = await client().status(ID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalError);
    expect((err as TqError).code).toBe(ErrorCode.Internal);
    expect((err as Error).message).toContain("unknown error code 999");
    expect((err as TqError).field).toBeUndefined();
  });
});

describe("pipelining", () => {
  test("answers given in reverse order still reach the right callers", async () => {
    const held: Array<{ id: string; requestId: number }> = [];
    fake = await FakeBroker.start((req, conn) => {
      if (req.kind !== "QueryStatus") return null;
      held.push({ id: req.id, requestId: req.requestId });
      if (held.length === 20) for (const h of held.reverse()) conn.reply({ kind: "TaskInfo", requestId: h.requestId, task: taskInfo(h.id) });
      return null;
    });
    const c = client();
    const ids = Array.from({ length: 20 }, (_, i) => `01890000-0000-7000-8000-${String(i).padStart(12, "0")}`);
    const tasks = await Promise.all(ids.map((id) => c.status(id)));
    expect(tasks.map((t) => t.id)).toEqual(ids);
    expect(new Set(fake.seen("QueryStatus").map((r) => r.requestId)).size).toBe(20);
  });

  test("requests made in one tick leave in one write", async () => {
    fake = await FakeBroker.start((req) => (req.kind === "QueryStatus" ? { kind: "TaskInfo", requestId: req.requestId, task: taskInfo(req.id) } : null));
    const c = client();
    await c.ping();
    const before = fake.chunks;
    await Promise.all(Array.from({ length: 100 }, () => c.status(ID)));
    expect(fake.seen("QueryStatus").length).toBe(100);
    // One 2.4 KB write; a loopback read could still split it, but never into one read per request.
    expect(fake.chunks - before).toBeLessThanOrEqual(2);
  });
});

describe("connection loss", () => {
  test("a sent non-idempotent request fails as outcome-unknown; an idempotent one is resent and answered", async () => {
    fake = await FakeBroker.start((req, conn) => {
      if (conn.index === 1) {
        if (fake.conns[0]!.requests.length >= 3) conn.drop();
        return null;
      }
      if (req.kind === "QueryStatus") return { kind: "TaskInfo", requestId: req.requestId, task: taskInfo(req.id) };
      return null;
    });
    const c = client();
    await c.ping();
    const submit = c.submit("t", 1).catch((e: unknown) => e);
    const status = c.status(ID);
    const err = await submit;
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).outcomeUnknown).toBe(true);
    expect((err as ConnectionError).retryable).toBe(true);
    expect((await status).id).toBe(ID);
    expect(fake.conns.length).toBe(2);
    expect(fake.conns[1]!.requests.map((r) => r.kind)).toEqual(["Hello", "QueryStatus"]);
  });

  test("a submit with an idempotency key is resent after a drop", async () => {
    fake = await FakeBroker.start((req, conn) => {
      if (req.kind !== "SubmitTask") return null;
      if (conn.index === 1) {
        conn.drop();
        return null;
      }
      return { kind: "Submitted", requestId: req.requestId, id: ID, status: "pending", duplicate: true };
    });
    const out = await client().submit("t", 1, { idempotencyKey: "k" });
    expect(out).toEqual({ id: ID, status: "pending", duplicate: true });
    expect(fake.seen("SubmitTask").length).toBe(2);
  });

  test("requests made while no broker listens wait, then fail as not sent when their time is up", async () => {
    fake = await FakeBroker.start();
    const port = fake.port;
    fake.stop();
    const c = new Client({ url: `tq://127.0.0.1:${port}`, env: {}, requestTimeoutMs: 300, reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
    open.push(c);
    const err = await c.submit("t").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).outcomeUnknown).toBe(false);
    expect((err as Error).message).toContain("the request was not sent");
  });

  test("with reconnect off, a refused connection fails at once", async () => {
    fake = await FakeBroker.start();
    const port = fake.port;
    fake.stop();
    const c = new Client({ url: `tq://127.0.0.1:${port}`, env: {}, reconnect: false, requestTimeoutMs: 20_000 });
    open.push(c);
    const err = await c.status(ID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toContain("cannot reach");
  });

  test("a request with no answer times out with TimeoutError; close() fails the rest with ClientClosedError", async () => {
    fake = await FakeBroker.start(() => null);
    const c = client({ requestTimeoutMs: 100 });
    const err = await c.status(ID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    const pending = c.request({ kind: "GetStats" }, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    await c.close();
    expect(await pending).toBeInstanceOf(ClientClosedError);
    expect(await c.stats().catch((e: unknown) => e)).toBeInstanceOf(ClientClosedError);
  });
});

describe("Hello and defaults", () => {
  test("TQ_URL and TQ_API_KEY are the defaults; Hello carries the key and client name", async () => {
    fake = await FakeBroker.start();
    const c = new Client({ env: { TQ_URL: fake.url, TQ_API_KEY: "s3cret" }, clientName: "unit" });
    open.push(c);
    await c.ping();
    const [hello] = fake.seen("Hello");
    expect(hello?.apiKey).toBe("s3cret");
    expect(hello?.clientName).toBe("unit");
  });
});

describe("keepalive", () => {
  test("a quiet connection is pinged so the broker's idle timeout does not close it", async () => {
    fake = await FakeBroker.start();
    const c = client({ keepAliveMs: 30 });
    await c.ping();
    for (let i = 0; i < 200 && fake.seen("Ping").length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(fake.seen("Ping").length).toBeGreaterThanOrEqual(3);
    expect(fake.conns.length).toBe(1);
  });
});

describe("Worker over the fake", () => {
  test("start() rejects with the broker's error when registration is refused, instead of retrying forever", async () => {
    fake = await FakeBroker.start((req) =>
      req.kind === "RegisterWorker" ? { kind: "Error", requestId: req.requestId, code: 4, retryAfterMs: 0, field: "queues", message: "queues: bad" } : null,
    );
    const w = new Worker({ url: fake.url, env: {}, handleSignals: false });
    const err = await w.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidFieldError);
    expect(() => new Worker({ env: {}, queues: ["has space"] })).toThrow(InvalidFieldError);
  });

  test("re-registers on every new connection and claims for no more than its free slots", async () => {
    fake = await FakeBroker.start((req, conn): Response | null => {
      if (req.kind === "RegisterWorker") {
        if (conn.index === 1) setTimeout(() => conn.drop(), 20);
        return { kind: "Registered", requestId: req.requestId, heartbeatIntervalMs: 60_000 };
      }
      if (req.kind === "DeregisterWorker") return { kind: "Ack", requestId: req.requestId };
      return null;
    });
    const w = new Worker({ url: fake.url, env: {}, handleSignals: false, concurrency: 3, workerId: "w-1", reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    w.on("error", () => {});
    await w.start();
    for (let i = 0; i < 200 && fake.seen("RegisterWorker").length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    for (let i = 0; i < 200 && (fake.conns[1]?.requests.filter((r) => r.kind === "ClaimTask").length ?? 0) < 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await w.stop({ timeoutMs: 100 });
    const registers = fake.seen("RegisterWorker");
    expect(registers.length).toBe(2);
    expect(registers.every((r) => r.workerId === "w-1" && r.concurrency === 3)).toBe(true);
    const claims = fake.seen("ClaimTask");
    expect(claims.length).toBeGreaterThan(0);
    expect(claims.every((c) => c.max <= 3 && c.waitMs > 0)).toBe(true);
    expect(fake.seen("DeregisterWorker").map((d) => d.workerId)).toEqual(["w-1"]);
  });

  test("back after a drop, a re-registration the broker refuses as still held by the old connection is retried, failing nothing", async () => {
    fake = await FakeBroker.start((req, conn): Response | null => {
      if (req.kind === "RegisterWorker") {
        if (conn.index === 1) setTimeout(() => conn.drop(), 20);
        if (conn.index === 2) {
          const message = `worker "w-r" is registered on another open connection; only that connection or an admin key may act for it`;
          // Late, so that a request made meanwhile waits for this connection.
          setTimeout(() => conn.reply({ kind: "Error", requestId: req.requestId, code: 7, retryAfterMs: 0, field: "worker_id", message }), 50);
          return null;
        }
        return { kind: "Registered", requestId: req.requestId, heartbeatIntervalMs: 60_000 };
      }
      if (req.kind === "DeregisterWorker") return { kind: "Ack", requestId: req.requestId };
      return null;
    });
    const w = new Worker({ url: fake.url, env: {}, handleSignals: false, workerId: "w-r", reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    const errors: unknown[] = [];
    w.on("error", (err) => errors.push(err));
    await w.start();
    for (let i = 0; i < 300 && fake.conns.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    const waited = w.client.ping().then(
      () => "pong",
      (err: unknown) => err,
    );
    for (let i = 0; i < 300 && (fake.conns[2]?.requests.filter((r) => r.kind === "ClaimTask").length ?? 0) < 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await waited).toBe("pong");
    await w.stop({ timeoutMs: 100 });
    expect(fake.seen("RegisterWorker").length).toBe(3);
    expect(fake.conns[2]!.requests.some((r) => r.kind === "ClaimTask")).toBe(true);
    expect(errors.filter((e) => e instanceof ForbiddenError)).toEqual([]);
  });

  test("heartbeats carry load and running leases; a quiet command stops claiming, a shutdown command stops the worker", async () => {
    let command: "none" | "quiet" | "shutdown" = "none";
    let handed = false;
    const claimed = { id: ID, token: 7, expiresAtMs: Date.now() + 60_000, attempts: 0, priority: 150, queue: "default", type: "hold", payloadIsJson: true, payload: new TextEncoder().encode("null"), createdAtMs: 1, maxRetries: 0 };
    fake = await FakeBroker.start((req, conn): Response | null => {
      switch (req.kind) {
        case "RegisterWorker":
          return { kind: "Registered", requestId: req.requestId, heartbeatIntervalMs: 60_000 };
        case "ClaimTask": {
          const tasks = handed ? [] : [claimed];
          handed = true;
          setTimeout(() => conn.reply({ kind: "Claimed", requestId: req.requestId, tasks }), 20);
          return null;
        }
        case "Heartbeat":
          return { kind: "HeartbeatOk", requestId: req.requestId, command, renewed: req.inFlight.map(() => Date.now() + 60_000) };
        case "RenewLease":
          return { kind: "Renewed", requestId: req.requestId, expiresAtMs: req.leases.map(() => Date.now() + 60_000) };
        case "Nack":
        case "DeregisterWorker":
          return { kind: "Ack", requestId: req.requestId };
        default:
          return null;
      }
    });
    const w = new Worker({ url: fake.url, env: {}, handleSignals: false, heartbeatIntervalMs: 20, gracefulShutdownTimeoutMs: 50 });
    w.on("error", () => {});
    let aborted: unknown = null;
    w.register("hold", (_t, ctx) => new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve((aborted = ctx.signal.reason)))));
    const stopped = new Promise<void>((resolve) => w.once("stopped", resolve));
    await w.start();
    const waitFor = async (cond: () => boolean): Promise<void> => {
      for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(cond()).toBe(true);
    };
    await waitFor(() => fake.seen("Heartbeat").some((h) => h.inFlight.length === 1));
    const beat = fake.seen("Heartbeat").find((h) => h.inFlight.length === 1)!;
    expect(beat.inFlight).toEqual([{ id: ID, token: 7 }]);
    expect(beat.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(beat.memoryMb).toBeGreaterThan(0);

    command = "quiet";
    const quietFrom = fake.seen("Heartbeat").length;
    await waitFor(() => fake.seen("Heartbeat").length >= quietFrom + 2);
    const claimsAtQuiet = fake.seen("ClaimTask").length;
    await waitFor(() => fake.seen("Heartbeat").length >= quietFrom + 6);
    expect(fake.seen("ClaimTask").length).toBeLessThanOrEqual(claimsAtQuiet + 1);

    command = "shutdown";
    await stopped;
    expect((aborted as Error).name).toBe("ShuttingDownError");
    expect(fake.seen("Nack").flatMap((n) => n.leases)).toEqual([{ id: ID, token: 7 }]);
    expect(fake.seen("DeregisterWorker").length).toBe(1);
  });
});
