// The basic life of a task over the real socket: submit, claim, report; status and results;
// pipelining; batches; priority order; delayed tasks. The broker runs on a FakeClock: backoff and
// run_at are checked to the millisecond of clock time, which moves only when a test advances it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, whenParked, type TestBroker } from "../helpers/broker.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, complete, expectKind, fail, spec, status, submit } from "../helpers/wire.ts";

const RETRY_BASE_MS = 10_000;
const clock = new FakeClock();
let broker: TestBroker;
let conn: RawConn;

beforeAll(async () => {
  // idle_timeout_secs: one connection serves every test while the clock moves by tens of seconds.
  const overrides = { "broker.max_batch_claim": 50, "broker.retry_base_delay_ms": RETRY_BASE_MS, "broker.retry_jitter": 0, "broker.idle_timeout_secs": 3600 };
  broker = await startBroker(overrides, undefined, { clock });
  conn = await RawConn.connect(broker.port);
});

afterAll(async () => {
  conn.close();
  await broker.stop();
});

const text = (bytes: Uint8Array | null): string => new TextDecoder().decode(bytes ?? new Uint8Array(0));

describe("submit, claim, complete", () => {
  test("a submitted task is claimed with its payload and completes with its result", async () => {
    const id = await submit(conn, spec("email.send", { queue: "basic", payload: new TextEncoder().encode('{"to":"a@b"}') }));
    expect((await status(conn, id)).status).toBe("pending");
    const [task] = await claim(conn, { queues: ["basic"] });
    expect(task?.id).toBe(id);
    expect(text(task!.payload)).toBe('{"to":"a@b"}');
    expect(task!.payloadIsJson).toBe(true);
    expect((await status(conn, id)).status).toBe("in_progress");
    expectKind(await complete(conn, task!, "sent"), "Ack");
    const done = await status(conn, id);
    expect(done.status).toBe("completed");
    expect(text(done.result)).toBe("sent");
    expect(await claim(conn, { queues: ["basic"] })).toEqual([]);
  });

  test("a failure is retried after backoff, then dead after max_retries, with its error kept", async () => {
    const id = await submit(conn, spec("flaky", { queue: "retry", maxRetries: 1 }));
    const [first] = await claim(conn, { queues: ["retry"] });
    const outcome = expectKind(await fail(conn, first!, "boom 1"), "FailOutcome");
    expect(outcome.status).toBe("failed");
    expect(outcome.retryAtMs).toBe(clock.now() + RETRY_BASE_MS);
    expect((await status(conn, id)).status).toBe("failed");
    clock.advance(RETRY_BASE_MS - 1);
    expect(await claim(conn, { queues: ["retry"] })).toEqual([]);
    const waiting = claim(conn, { queues: ["retry"], waitMs: 60_000 });
    await whenParked(broker, 1);
    clock.advance(1);
    const second = await waiting;
    expect(second[0]?.id).toBe(id);
    expect(second[0]?.attempts).toBe(1);
    const last = expectKind(await fail(conn, second[0]!, "boom 2"), "FailOutcome");
    expect(last.status).toBe("dead");
    const dead = await status(conn, id);
    expect(dead.status).toBe("dead");
    expect(dead.error).toContain("boom 2");
  });

  test("an unrecoverable failure goes straight to dead", async () => {
    const id = await submit(conn, spec("poison", { queue: "unrec", maxRetries: 5 }));
    const [task] = await claim(conn, { queues: ["unrec"] });
    expect(expectKind(await fail(conn, task!, "bad input", true), "FailOutcome").status).toBe("dead");
    expect((await status(conn, id)).status).toBe("dead");
  });

  test("a result for an unknown task is NotFound; a stale token is LeaseLost", async () => {
    const unknown = await complete(conn, { id: "0190a5a0-0000-7000-8000-000000000000", token: 1 });
    expect(expectKind(unknown, "Error").code).toBe(8);
    await submit(conn, spec("t", { queue: "stale" }));
    const [task] = await claim(conn, { queues: ["stale"] });
    const stale = await complete(conn, { id: task!.id, token: task!.token + 1 });
    expect(expectKind(stale, "Error").code).toBe(10);
    expectKind(await complete(conn, task!), "Ack");
  });
});

describe("pipelining", () => {
  test("many requests in one write are all answered, each with its own request id, in order", async () => {
    const ids: number[] = [];
    const frames: Uint8Array[] = [];
    const { encodeRequest } = await import("../../src/protocol/frame-writer.ts");
    for (let i = 0; i < 200; i++) {
      const requestId = 10_000 + i;
      ids.push(requestId);
      frames.push(encodeRequest({ kind: "SubmitTask", requestId, task: spec(`p${i}`, { queue: "pipe" }) }));
    }
    conn.sendBytes(Buffer.concat(frames));
    const seen: number[] = [];
    for (let i = 0; i < 200; i++) {
      const response = await conn.waitFor((r) => r.requestId >= 10_000 && r.requestId < 10_200);
      expectKind(response, "Submitted");
      seen.push(response.requestId);
    }
    expect(seen).toEqual(ids);
  });
});

describe("pipelining past the per-connection bounds", () => {
  test("300 status requests in one write (replies with whole tasks) are all answered, in order", async () => {
    const { encodeRequest } = await import("../../src/protocol/frame-writer.ts");
    const id = await submit(conn, spec("big", { queue: "heavy", payload: new Uint8Array(64 * 1024) }));
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 300; i++) frames.push(encodeRequest({ kind: "QueryStatus", requestId: 20_000 + i, id }));
    frames.push(encodeRequest({ kind: "Ping", requestId: 20_300 }));
    conn.sendBytes(Buffer.concat(frames));
    const seen: number[] = [];
    for (let i = 0; i <= 300; i++) {
      const response = await conn.waitFor((r) => r.requestId >= 20_000 && r.requestId <= 20_300);
      if (i < 300) expect(expectKind(response, "TaskInfo").task.payload.byteLength).toBe(64 * 1024);
      seen.push(response.requestId);
    }
    expect(seen).toEqual(Array.from({ length: 301 }, (_, i) => 20_000 + i));
  });
});

describe("batches", () => {
  test("a batch submit is stored whole and a batch claim takes several in priority order", async () => {
    const tasks = [10, 200, 50, 255, 150].map((priority) => spec(`b${priority}`, { queue: "batch", priority }));
    const outcomes = expectKind(await conn.call({ kind: "SubmitBatch", tasks }), "SubmittedBatch").outcomes;
    expect(outcomes.length).toBe(5);
    const claimed = await claim(conn, { queues: ["batch"], max: 10 });
    expect(claimed.map((t) => t.priority)).toEqual([255, 200, 150, 50, 10]);
  });

  test("one bad task rejects the whole batch, naming its index", async () => {
    const tasks = [spec("ok", { queue: "batch2" }), spec("bad", { queue: "batch2", leaseMs: 1 })];
    const error = expectKind(await conn.call({ kind: "SubmitBatch", tasks }), "Error");
    expect(error.field).toMatch(/^tasks\[1\]\.lease/i);
    expect(await claim(conn, { queues: ["batch2"] })).toEqual([]);
  });

  test("a claim asking for more than max_batch_claim gets at most max_batch_claim", async () => {
    await conn.call({ kind: "SubmitBatch", tasks: Array.from({ length: 60 }, (_, i) => spec(`cap${i}`, { queue: "cap" })) });
    expect((await claim(conn, { queues: ["cap"], max: 60 })).length).toBe(50);
    expect((await claim(conn, { queues: ["cap"], max: 60 })).length).toBe(10);
  });
});

describe("priority and delay", () => {
  test("higher priority first, FIFO within a priority, across the whole 0-255 range", async () => {
    const order: { priority: number; id: string }[] = [];
    for (const priority of [0, 255, 100, 255, 0, 199, 200, 99]) {
      order.push({ priority, id: await submit(conn, spec("prio", { queue: "prio", priority })) });
    }
    const expected = [...order].sort((a, b) => b.priority - a.priority).map((t) => t.id);
    const got: string[] = [];
    for (let i = 0; i < order.length; i++) got.push((await claim(conn, { queues: ["prio"] }))[0]!.id);
    expect(got).toEqual(expected);
  });

  test("a delayed task is not claimable before run_at and is claimable after", async () => {
    const id = await submit(conn, spec("later", { queue: "delay", runAtMs: clock.now() + 40_000 }));
    expect((await status(conn, id)).status).toBe("scheduled");
    expect(await claim(conn, { queues: ["delay"] })).toEqual([]);
    clock.advance(39_999);
    expect(await claim(conn, { queues: ["delay"] })).toEqual([]);
    expect((await status(conn, id)).status).toBe("scheduled");
    const waiting = claim(conn, { queues: ["delay"], waitMs: 60_000 });
    await whenParked(broker, 1);
    clock.advance(1);
    const [task] = await waiting;
    expect(task?.id).toBe(id);
  });
});
