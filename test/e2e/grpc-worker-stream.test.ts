// The gRPC worker stream (tq.v1.Broker/Work) through the real port: tasks pushed within the
// worker's credits, reports, a lost lease, a cancel pushed to the worker, quiet, an operator's
// command pushed at once, the clean goodbye
// (half-close) and the cut stream whose task goes back after broker.disconnect_grace_secs; and
// tasks crossing front doors (submitted over gRPC, claimed over TCP, and the reverse).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { GrpcTestClient, type Msg, type WorkStream } from "../helpers/grpc-client.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, complete, eventually, expectKind, spec, status, submit } from "../helpers/wire.ts";

let broker: TestBroker;
let client: GrpcTestClient;

beforeAll(async () => {
  broker = await startBroker({ "broker.disconnect_grace_secs": 1 });
  client = new GrpcTestClient(broker.grpcPort);
});

afterAll(async () => {
  client.close();
  await broker.stop();
});

const submitTo = async (queue: string, n: number, fields: Msg = {}): Promise<string[]> =>
  (await client.call("SubmitBatch", { tasks: Array.from({ length: n }, (_, i) => ({ type: `${queue}.${i}`, queue, payload: Buffer.from(String(i)), ...fields })) })).outcomes.map((o: Msg) => o.id);

async function started(stream: WorkStream, workerId: string, queue: string, concurrency: number): Promise<Msg> {
  stream.send({ start: { worker_id: workerId, hostname: "h", pid: 1, queues: [queue], concurrency, version: "test" } });
  return (await stream.next("started")).started;
}

const tasksOf = async (stream: WorkStream): Promise<Msg[]> => (await stream.next("tasks")).tasks.tasks;

const report = (id: string, token: number, ref: number): Msg => ({ report: { ref, results: [{ id, token, outcome: "OUTCOME_COMPLETED", result: Buffer.from("ok") }] } });

describe("the worker stream", () => {
  test("tasks come as credits free up; reports are acknowledged; a half-close is a clean goodbye", async () => {
    const ids = await submitTo("ws-flow", 3);
    const stream = client.work();
    expect(await started(stream, "ws-flow-w", "ws-flow", 2)).toEqual({ heartbeat_interval_ms: 15000, default_lease_ms: 30000 });
    const first: Msg[] = [];
    while (first.length < 2) first.push(...(await tasksOf(stream)));
    expect(first.map((t) => t.id)).toEqual(ids.slice(0, 2));
    // Two credits, two tasks out: the third waits for a credit.
    await expect(stream.next("tasks", 300)).rejects.toThrow("no tasks");

    stream.send(report(first[0]!.id, first[0]!.token, 7));
    expect((await stream.next("report_ack")).report_ack).toEqual({ ref: 7, entries: [{ ok: {}, entry: "ok" }], error: null });
    const [third] = await tasksOf(stream);
    expect(third!.id).toBe(ids[2]);
    expect((await client.call("GetTask", { id: ids[0] })).status).toBe("TASK_STATUS_COMPLETED");

    stream.send(report(third!.id, third!.token, 8));
    await stream.next("report_ack");
    // Goodbye with one task unfinished: deregistered, and the task goes back at once (not an attempt).
    stream.call.end();
    expect((await stream.ended()).code).toBe(GrpcStatus.OK);
    const back = await client.call("GetTask", { id: ids[1] });
    expect(back).toMatchObject({ status: "TASK_STATUS_PENDING", attempts: 0 });
    const workers = JSON.parse((await client.call("ListWorkers")).json) as Msg[];
    expect(workers.find((w) => w.id === "ws-flow-w")).toBeUndefined();
  });

  test("a lease that runs out is lost: its report gets LeaseLost, its heartbeat renews it as 0, its credit comes back", async () => {
    const [id] = await submitTo("ws-lease", 1, { lease_ms: 300 });
    const stream = client.work();
    await started(stream, "ws-lease-w", "ws-lease", 1);
    const [task] = await tasksOf(stream);
    expect(task!.id).toBe(id);
    // The lease runs out (300 ms) and the scheduler gives the task back; with the credit free, it comes again.
    const [again] = await tasksOf(stream);
    expect(again!.id).toBe(id);
    expect(again!.token).not.toBe(task!.token);
    expect(again!.attempts).toBe(1);

    stream.send(report(id!, task!.token, 1));
    const ack = (await stream.next("report_ack")).report_ack;
    expect(ack.entries[0].error).toMatchObject({ code: 10, name: "LeaseLost" });
    stream.send({ heartbeat: { ref: 2, cpu_percent: 1, memory_mb: 2, in_flight: [{ id, token: task!.token }, { id, token: again!.token }] } });
    const hb = (await stream.next("heartbeat_ack")).heartbeat_ack;
    expect(hb.ref).toBe(2);
    expect(hb.renewed[0]).toBe(0);
    expect(hb.renewed[1]).toBeGreaterThan(Date.now());
    stream.send(report(id!, again!.token, 3));
    expect((await stream.next("report_ack")).report_ack.entries[0].ok).toEqual({});
    stream.call.end();
    await stream.ended();
  });

  test("a running task cancelled by a producer is pushed to the worker as cancelled; its report gets LeaseLost", async () => {
    const [id] = await submitTo("ws-cancel", 1);
    const stream = client.work();
    await started(stream, "ws-cancel-w", "ws-cancel", 1);
    const [task] = await tasksOf(stream);
    expect((await client.call("CancelTask", { id })).status).toBe("TASK_STATUS_CANCELLED");
    expect((await stream.next("cancelled")).cancelled).toEqual({ id, token: task!.token });
    stream.send(report(id!, task!.token, 1));
    expect((await stream.next("report_ack")).report_ack.entries[0].error.name).toBe("LeaseLost");
    stream.call.end();
    await stream.ended();
  });

  test("quiet: no more tasks come, and the heartbeat says so; nack hands a task back", async () => {
    const ids = await submitTo("ws-quiet", 2);
    const stream = client.work();
    await started(stream, "ws-quiet-w", "ws-quiet", 1);
    const [task] = await tasksOf(stream);
    broker.app.broker.setWorkerCommand("ws-quiet-w", "quiet");
    stream.send({ nack: { ref: 5, leases: [{ id: task!.id, token: task!.token }] } });
    expect((await stream.next("nack_ack")).nack_ack).toEqual({ ref: 5, error: null });
    stream.send({ heartbeat: { ref: 6, cpu_percent: 0, memory_mb: 0, in_flight: [] } });
    expect((await stream.next("heartbeat_ack")).heartbeat_ack.command).toBe("WORKER_COMMAND_QUIET");
    await expect(stream.next("tasks", 300)).rejects.toThrow("no tasks");
    expect((await client.call("GetTask", { id: ids[0] })).status).toBe("TASK_STATUS_PENDING");
    stream.send({ nack: { ref: 9, leases: [{ id: task!.id, token: task!.token }] } });
    expect((await stream.next("nack_ack")).nack_ack.error.name).toBe("LeaseLost");
    stream.call.end();
    await stream.ended();
  });

  test("an operator's quiet, then shutdown, are pushed to the stream at once, not held for the next heartbeat", async () => {
    const stream = client.work();
    await started(stream, "ws-command-w", "ws-command", 1);
    // Over REST, as an operator asks; the heartbeat interval (15 s) is far off.
    const quiet = await fetch(`http://127.0.0.1:${broker.httpPort}/api/v1/workers/ws-command-w/quiet`, { method: "POST" });
    expect(quiet.status).toBe(200);
    expect((await stream.next("command")).command).toEqual({ command: "WORKER_COMMAND_QUIET" });
    broker.app.broker.setWorkerCommand("ws-command-w", "shutdown");
    expect((await stream.next("command")).command).toEqual({ command: "WORKER_COMMAND_SHUTDOWN" });
    stream.send({ heartbeat: { ref: 1, cpu_percent: 0, memory_mb: 0, in_flight: [] } });
    expect((await stream.next("heartbeat_ack")).heartbeat_ack.command).toBe("WORKER_COMMAND_SHUTDOWN");
    stream.call.end();
    await stream.ended();
  });

  test("a stream cut mid-task gives the task back after broker.disconnect_grace_secs, counted as an attempt", async () => {
    const [id] = await submitTo("ws-cut", 1);
    const stream = client.work();
    await started(stream, "ws-cut-w", "ws-cut", 1);
    await tasksOf(stream);
    stream.call.cancel();
    await Bun.sleep(300);
    expect((await client.call("GetTask", { id })).status).toBe("TASK_STATUS_IN_PROGRESS");
    await eventually(async () => (await client.call("GetTask", { id })).status === "TASK_STATUS_PENDING", 5000, 50);
    expect((await client.call("GetTask", { id })).attempts).toBe(1);
  });

  test("a first message that is not start, or a second start, ends the stream INVALID_ARGUMENT", async () => {
    const early = client.work();
    early.send({ heartbeat: { ref: 1 } });
    const status = await early.ended();
    expect(status.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(status.metadata.get("tq-error-field")).toEqual(["start"]);
    const twice = client.work();
    await started(twice, "ws-twice", "ws-twice", 1);
    twice.send({ start: { worker_id: "ws-twice", concurrency: 1 } });
    expect((await twice.ended()).code).toBe(GrpcStatus.INVALID_ARGUMENT);
  });
});

describe("across front doors", () => {
  test("submitted over gRPC, claimed and completed over TCP", async () => {
    const [id] = await submitTo("cross-1", 1);
    const tcp = await RawConn.connect(broker.port);
    try {
      const [task] = await claim(tcp, { queues: ["cross-1"] });
      expect(task!.id).toBe(id!);
      expectKind(await complete(tcp, task!), "Ack");
      expect((await client.call("GetTask", { id })).status).toBe("TASK_STATUS_COMPLETED");
    } finally {
      tcp.close();
    }
  });

  test("submitted over TCP, run by a gRPC worker stream, seen done over TCP", async () => {
    const tcp = await RawConn.connect(broker.port);
    try {
      const id = await submit(tcp, spec("cross.two", { queue: "cross-2" }));
      const stream = client.work();
      await started(stream, "cross-w", "cross-2", 1);
      const [task] = await tasksOf(stream);
      expect(task!.id).toBe(id);
      expect(JSON.parse(Buffer.from(task!.payload).toString())).toEqual({ type: "cross.two" });
      stream.send(report(id, task!.token, 1));
      await stream.next("report_ack");
      expect((await status(tcp, id)).status).toBe("completed");
      stream.call.end();
      await stream.ended();
    } finally {
      tcp.close();
    }
  });
});
