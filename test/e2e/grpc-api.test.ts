// The gRPC API through the real port with a grpc-js client built from the .proto: every unary
// method of tq.v1.Broker, errors as statuses with the error table's code and field in the details,
// deadlines that end waits, the health service and server reflection.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { GrpcTestClient, statusDetails, type Msg } from "../helpers/grpc-client.ts";

let broker: TestBroker;
let client: GrpcTestClient;

beforeAll(async () => {
  broker = await startBroker({ "broker.queue_depth_threshold": 20 });
  client = new GrpcTestClient(broker.grpcPort);
});

afterAll(async () => {
  client.close();
  await broker.stop();
});

const task = (type: string, fields: Msg = {}): Msg => ({ type, payload: Buffer.from(JSON.stringify({ n: 1 })), payload_is_json: true, ...fields });

describe("producer methods", () => {
  test("GetServerInfo says what TCP's HelloOk says, and who is calling", async () => {
    expect(await client.call("GetServerInfo")).toEqual({
      protocol_version: 1,
      server_version: expect.any(String),
      max_message_bytes: 16 * 1024 * 1024,
      max_batch_claim: 10,
      heartbeat_interval_ms: 15000,
      default_lease_ms: 30000,
      key_name: "anonymous",
      role: "admin",
    });
  });

  test("Submit by tier, number and delay; GetTask shows the stored task field by field", async () => {
    const high = await client.call("Submit", { task: task("t.tier", { tier: "TIER_HIGH", queue: "api" }) });
    expect(high).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), status: "TASK_STATUS_PENDING", duplicate: false });
    const got = await client.call("GetTask", { id: high.id });
    expect(got).toMatchObject({ id: high.id, status: "TASK_STATUS_PENDING", type: "t.tier", queue: "api", priority: 255, attempts: 0, max_retries: 3, lease_ms: 30000, payload_is_json: true });
    expect(JSON.parse(Buffer.from(got.payload).toString())).toEqual({ n: 1 });
    expect(got.result).toBeUndefined();
    expect(got.error).toBeUndefined();

    const zero = await client.call("Submit", { task: task("t.num", { priority: 0, max_retries: 0, lease_ms: 1000, queue: "api" }) });
    expect(await client.call("GetTask", { id: zero.id })).toMatchObject({ priority: 0, max_retries: 0, lease_ms: 1000 });

    const later = await client.call("Submit", { task: task("t.delay", { delay_ms: 60_000, queue: "api" }) });
    expect(later.status).toBe("TASK_STATUS_SCHEDULED");
    expect((await client.call("GetTask", { id: later.id })).run_at_ms).toBeGreaterThan(Date.now() + 50_000);
  });

  test("an idempotency key returns the first task as a duplicate", async () => {
    const first = await client.call("Submit", { task: task("t.idem", { idempotency_key: "order-1", queue: "idem" }) });
    const again = await client.call("Submit", { task: task("t.idem", { idempotency_key: "order-1", queue: "idem" }) });
    expect(again).toEqual({ id: first.id, status: first.status, duplicate: true });
  });

  test("SubmitBatch is all or nothing and names the bad task's field as the .proto spells it", async () => {
    const ok = await client.call("SubmitBatch", { tasks: [task("b1", { queue: "batch" }), task("b2", { queue: "batch" })] });
    expect(ok.outcomes).toHaveLength(2);
    const err = await client.error("SubmitBatch", { tasks: [task("b3", { queue: "batch" }), task("b4", { queue: "a b" })] });
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(err.metadata.get("tq-error-field")).toEqual(["tasks[1].queue"]);
    const bad = await client.error("SubmitBatch", { tasks: [task("b5", { queue: "batch", run_at_ms: Date.now() + 1000, max_retries: 5000 })] });
    expect(bad.metadata.get("tq-error-field")).toEqual(["max_retries"]);
    const listed = await client.call("ListTasks", { queue: "batch", limit: 10 });
    expect(listed.tasks.map((t: Msg) => t.type)).toEqual(["b1", "b2"]);
  });

  test("InvalidField is INVALID_ARGUMENT with ErrorInfo, BadRequest naming the field", async () => {
    const err = await client.error("Submit", { task: task("x", { priority: 300 }) });
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(err.metadata.get("tq-error-code")).toEqual(["4"]);
    expect(err.metadata.get("tq-error-name")).toEqual(["InvalidField"]);
    const details = statusDetails(err);
    expect(details.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(details.details).toEqual([
      { type: "google.rpc.ErrorInfo", value: { reason: "InvalidField", domain: "tq-broker", metadata: { code: "4", field: "priority" } } },
      { type: "google.rpc.BadRequest", value: { field_violations: [{ field: "priority", description: err.details }] } },
    ]);
  });

  test("NotFound for an unknown id; INVALID_ARGUMENT for an id that is not a UUID", async () => {
    const missing = await client.error("GetTask", { id: "01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90" });
    expect(missing.code).toBe(GrpcStatus.NOT_FOUND);
    expect(missing.metadata.get("tq-error-name")).toEqual(["NotFound"]);
    const garbage = await client.error("CancelTask", { id: "nope" });
    expect(garbage.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(garbage.metadata.get("tq-error-field")).toEqual(["id"]);
  });

  test("CancelTask, then RetryTask; a second cancel is InvalidState as FAILED_PRECONDITION", async () => {
    const { id } = await client.call("Submit", { task: task("t.cancel", { queue: "cancel" }) });
    expect((await client.call("CancelTask", { id })).status).toBe("TASK_STATUS_CANCELLED");
    const again = await client.error("CancelTask", { id });
    expect(again.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(again.metadata.get("tq-error-name")).toEqual(["InvalidState"]);
    expect((await client.call("RetryTask", { id })).status).toBe("TASK_STATUS_PENDING");
  });

  test("ListTasks pages with a cursor and filters by status", async () => {
    await client.call("SubmitBatch", { tasks: [1, 2, 3].map((i) => task(`p${i}`, { queue: "paging" })) });
    const first = await client.call("ListTasks", { queue: "paging", limit: 2 });
    expect(first.tasks.map((t: Msg) => t.type)).toEqual(["p1", "p2"]);
    expect(first.next_cursor).not.toBe("");
    const second = await client.call("ListTasks", { queue: "paging", limit: 2, cursor: first.next_cursor });
    expect(second.tasks.map((t: Msg) => t.type)).toEqual(["p3"]);
    expect(second.next_cursor).toBe("");
    const none = await client.call("ListTasks", { queue: "paging", status: "TASK_STATUS_DEAD" });
    expect(none.tasks).toEqual([]);
    expect((await client.error("ListTasks", { limit: 5000 })).metadata.get("tq-error-field")).toEqual(["limit"]);
  });

  test("GetStats and ListWorkers carry TCP's JSON", async () => {
    const stats = JSON.parse((await client.call("GetStats")).json);
    expect(stats.tasks.pending).toBeGreaterThan(0);
    expect(stats.backend).toBe("sqlite");
    await client.call("RegisterWorker", { worker_id: "listed-w", hostname: "h", pid: 7, queues: ["q"], concurrency: 2, version: "1", labels: { zone: "z" } });
    const workers = JSON.parse((await client.call("ListWorkers")).json) as Msg[];
    expect(workers.find((w) => w.id === "listed-w")).toMatchObject({ hostname: "h", pid: 7, queues: ["q"], concurrency: 2, labels: { zone: "z" }, address: "127.0.0.1" });
  });

  test("QueueFull is RESOURCE_EXHAUSTED with the retry hint in RetryInfo and the trailers", async () => {
    const pending = JSON.parse((await client.call("GetStats")).json).tasks.pending as number;
    const err = await client.error("SubmitBatch", { tasks: Array.from({ length: 21 - pending + 1 }, (_, i) => task(`full${i}`, { queue: "full" })) });
    expect(err.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(err.metadata.get("tq-error-name")).toEqual(["QueueFull"]);
    expect(err.metadata.get("tq-retry-after-ms")).toEqual(["1000"]);
    const details = statusDetails(err).details;
    expect(details[0]).toEqual({ type: "google.rpc.ErrorInfo", value: { reason: "QueueFull", domain: "tq-broker", metadata: { code: "11", retry_after_ms: "1000" } } });
    expect(details[1]).toEqual({ type: "google.rpc.RetryInfo", value: { retry_delay: { seconds: 1 } } });
  });
});

describe("worker methods, one call each", () => {
  test("register, claim, renew, heartbeat, report completed and failed, batch report, nack, deregister", async () => {
    const w = new GrpcTestClient(broker.grpcPort);
    try {
      await w.call("RegisterWorker", { worker_id: "uw1", hostname: "host", pid: 1, queues: ["unary"], concurrency: 4, version: "1" });
      const ids = (await w.call("SubmitBatch", { tasks: [1, 2, 3, 4, 5].map((i) => task(`u${i}`, { queue: "unary" })) })).outcomes.map((o: Msg) => o.id);
      const claimed = (await w.call("Claim", { worker_id: "uw1", queues: ["unary"], max: 5 })).tasks as Msg[];
      expect(claimed.map((t) => t.id)).toEqual(ids);
      // (Bun's toMatchObject writes asymmetric matchers into the object it checks: the token is checked apart.)
      expect(claimed[0]).toMatchObject({ type: "u1", queue: "unary", attempts: 0, lease_ms: 30000, payload_is_json: true });
      expect(claimed.every((t) => Number.isInteger(t.token))).toBe(true);
      const [a, b, c, d, e] = claimed as [Msg, Msg, Msg, Msg, Msg];

      const renewed = await w.call("RenewLeases", { leases: [{ id: a.id, token: a.token }, { id: e.id, token: (e.token ^ 1) >>> 0 }] });
      expect(renewed.expires_at_ms[0]).toBeGreaterThan(Date.now());
      expect(renewed.expires_at_ms[1]).toBe(0);
      const hb = await w.call("Heartbeat", { worker_id: "uw1", cpu_percent: 5, memory_mb: 10, in_flight: [{ id: b.id, token: b.token }] });
      expect(hb.command).toBe("WORKER_COMMAND_NONE");
      expect(hb.renewed[0]).toBeGreaterThan(Date.now());

      expect(await w.call("ReportResult", { result: { id: a.id, token: a.token, outcome: "OUTCOME_COMPLETED", result: Buffer.from('{"ok":1}'), result_is_json: true } })).toEqual({ fail: null });
      const done = await w.call("GetTask", { id: a.id });
      expect(done.status).toBe("TASK_STATUS_COMPLETED");
      expect(Buffer.from(done.result).toString()).toBe('{"ok":1}');
      const failed = await w.call("ReportResult", { result: { id: b.id, token: b.token, outcome: "OUTCOME_FAILED", error: "boom" } });
      expect(failed.fail).toMatchObject({ status: "TASK_STATUS_FAILED", attempts: 1 });
      expect(failed.fail.retry_at_ms).toBeGreaterThan(Date.now());

      // The same lease reported twice: the second report's lease is gone.
      const lost = await w.error("ReportResult", { result: { id: a.id, token: a.token, outcome: "OUTCOME_COMPLETED" } });
      expect(lost.code).toBe(GrpcStatus.FAILED_PRECONDITION);
      expect(lost.metadata.get("tq-error-name")).toEqual(["LeaseLost"]);

      const batch = await w.call("ReportResults", {
        results: [
          { id: c.id, token: c.token, outcome: "OUTCOME_UNRECOVERABLE", error: "bad input" },
          { id: c.id, token: c.token, outcome: "OUTCOME_COMPLETED" },
        ],
      });
      expect(batch.entries[0].fail).toMatchObject({ status: "TASK_STATUS_DEAD", retry_at_ms: 0 });
      expect(batch.entries[1].error).toMatchObject({ code: 10, name: "LeaseLost" });

      expect(await w.call("Nack", { leases: [{ id: d.id, token: d.token }] })).toEqual({});
      expect((await w.call("GetTask", { id: d.id })).status).toBe("TASK_STATUS_PENDING");
      expect((await w.call("DeregisterWorker", { worker_id: "uw1" })).tasks_handed_back).toBe(1);
      expect((await w.call("GetTask", { id: e.id })).status).toBe("TASK_STATUS_PENDING");
    } finally {
      w.close();
    }
  });

  test("a blocking Claim ends before the call's deadline, with no task lost", async () => {
    const started = Date.now();
    const reply = await client.call("Claim", { queues: ["empty-q"], max: 1, wait_ms: 60_000 }, { deadlineMs: 1000 });
    expect(reply.tasks).toEqual([]);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(Date.now() - started).toBeGreaterThan(600);
  });

  test("WaitResult wakes on completion, and ends before its deadline otherwise", async () => {
    const { id } = await client.call("Submit", { task: task("t.wait", { queue: "wait" }) });
    const started = Date.now();
    const timedOut = await client.call("WaitResult", { id, wait_ms: 60_000 }, { deadlineMs: 1000 });
    expect(timedOut.status).toBe("TASK_STATUS_PENDING");
    expect(Date.now() - started).toBeLessThan(1000);

    const waiting = client.call("WaitResult", { id, wait_ms: 10_000 });
    const [claimed] = (await client.call("Claim", { queues: ["wait"], max: 1 })).tasks as Msg[];
    await client.call("ReportResult", { result: { id, token: claimed!.token, outcome: "OUTCOME_COMPLETED" } });
    expect((await waiting).status).toBe("TASK_STATUS_COMPLETED");
  });
});

describe("tooling", () => {
  test("grpc.health.v1 says SERVING, and NOT_FOUND for a service it does not know", async () => {
    const check = (service: string): Promise<Msg> =>
      new Promise((resolve, reject) => client.health.Check({ service }, (err: Error | null, reply: Msg) => (err ? reject(err) : resolve(reply))));
    expect(await check("")).toEqual({ status: "SERVING" });
    expect(await check("tq.v1.Broker")).toEqual({ status: "SERVING" });
    const unknown = await check("nope.Service").then(
      () => null,
      (err: { code: number }) => err,
    );
    expect(unknown?.code).toBe(GrpcStatus.NOT_FOUND);
  });

  test("server reflection lists the services and serves the broker's file descriptor (what grpcurl list/describe ask)", async () => {
    const stream = client.reflection.ServerReflectionInfo();
    const replies: Msg[] = [];
    const got = new Promise<void>((resolve) => {
      stream.on("data", (m: Msg) => {
        replies.push(m);
        if (replies.length === 3) resolve();
      });
    });
    stream.write({ host: "", list_services: "*" });
    stream.write({ host: "", file_containing_symbol: "tq.v1.Broker" });
    stream.write({ host: "", file_containing_symbol: "no.such.Symbol" });
    await got;
    stream.end();
    expect(replies[0]!.list_services_response.service.map((s: Msg) => s.name).sort()).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "tq.v1.Broker",
    ]);
    const [descriptor] = replies[1]!.file_descriptor_response.file_descriptor_proto as Buffer[];
    const text = Buffer.from(descriptor!).toString("latin1");
    expect(text.startsWith("\n\x12tq/v1/broker.proto")).toBe(true);
    for (const name of ["Broker", "Submit", "Work", "TaskSpec", "WorkRequest"]) expect(text).toContain(name);
    expect(replies[2]!.error_response.error_code).toBe(GrpcStatus.NOT_FOUND);
  });

  test("/metrics counts gRPC calls by method and status", async () => {
    const body = await (await fetch(`http://127.0.0.1:${broker.metricsPort}/metrics`)).text();
    expect(body).toMatch(/tq_grpc_requests_total\{method="Submit",code="OK"\} [1-9]/);
    expect(body).toMatch(/tq_grpc_requests_total\{method="GetTask",code="NOT_FOUND"\} [1-9]/);
    expect(body).toMatch(/tq_connections_open\{front_door="grpc"\} [1-9]/);
  });
});
