// Every stored task can be read over TCP: payload + result + error stay within one reply
// (MAX_TASK_DATA_BYTES). A result too big beside its payload is refused with nothing changed, an
// error message is cut to fit, cancel and retry answer what they committed, list paging goes on,
// and a task stored over the limit by an earlier build is still sent (without its result).
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { DATABASE_FILE } from "../../src/app.ts";
import { MAX_PAYLOAD_BYTES, MAX_TASK_DATA_BYTES } from "../../src/protocol/limits.ts";
import type { ClaimedTask, TaskInfo, TaskSpec } from "../../src/protocol/messages.ts";
import { Client, InvalidFieldError, Worker } from "../../src/index.ts";
import { stateCrc, type StateFields } from "../../src/store/sqlite/row-checksum.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";

// The SDK's connection, not RawConn: these frames are megabytes, and its socket writes whole.
let broker: TestBroker;
let client: Client;

beforeAll(async () => {
  broker = await startBroker({ "broker.retry_base_delay_ms": 60_000 });
  client = new Client({ url: `tq://127.0.0.1:${broker.port}`, env: {}, requestTimeoutMs: 20_000 });
});

afterAll(async () => {
  await client.close();
  await broker.stop();
});

const MiB = 1024 * 1024;
const bytes = (n: number): Uint8Array => new Uint8Array(n).fill(7);
const dataBytes = (t: TaskInfo): number =>
  t.payload.byteLength + (t.result?.byteLength ?? 0) + (t.error === null ? 0 : new TextEncoder().encode(t.error).byteLength);

async function submit(task: Partial<TaskSpec> & { queue: string }): Promise<string> {
  return (await client.call({ kind: "SubmitTask", task: { type: "t", payload: bytes(0), payloadIsJson: false, ...task } }, "Submitted")).id;
}

async function claimOne(queue: string): Promise<ClaimedTask> {
  const [task] = (await client.call({ kind: "ClaimTask", queues: [queue], max: 1, waitMs: 0 }, "Claimed")).tasks;
  return task!;
}

function complete(task: ClaimedTask, result: Uint8Array) {
  return client.call({ kind: "TaskResult", id: task.id, token: task.token, outcome: "completed", resultIsJson: false, result, error: "" }, "Ack");
}

async function read(body: Parameters<Client["request"]>[0]): Promise<TaskInfo> {
  return (await client.call(body, "TaskInfo")).task;
}

describe("every stored task fits one reply", () => {
  test("a result too big beside its payload is refused naming the field, and nothing changes", async () => {
    const id = await submit({ queue: "size-result", payload: bytes(10 * MiB) });
    const task = await claimOne("size-result");
    const refused = await complete(task, bytes(7 * MiB)).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(InvalidFieldError);
    expect((refused as InvalidFieldError).field).toBe("result");
    expect((refused as InvalidFieldError).message).toContain(String(MAX_TASK_DATA_BYTES));
    expect((await read({ kind: "QueryStatus", id })).status).toBe("in_progress");
    // The lease still holds: a result that fits is taken.
    const fits = MAX_TASK_DATA_BYTES - 10 * MiB;
    await complete(task, bytes(fits));
    const done = await read({ kind: "QueryStatus", id });
    expect(done.status).toBe("completed");
    expect(done.result?.byteLength).toBe(fits);
    expect((await read({ kind: "WaitResult", id, waitMs: 1000 })).result?.byteLength).toBe(fits);
  }, 60_000);

  test("a long error beside a payload at its limit is cut to fit; cancel, retry, query, wait and list all answer", async () => {
    const id = await submit({ queue: "size-error", payload: bytes(MAX_PAYLOAD_BYTES), maxRetries: 1 });
    const small = await submit({ queue: "size-error" });
    const task = await claimOne("size-error");
    expect(task.id).toBe(id);
    // The wire keeps 64 KiB of an error; beside this payload less fits.
    const failed = await client.call(
      { kind: "TaskResult", id, token: task.token, outcome: "failed", resultIsJson: false, result: bytes(0), error: "e".repeat(70_000) },
      "FailOutcome",
    );
    expect(failed.status).toBe("failed");

    const queried = await read({ kind: "QueryStatus", id });
    expect(queried.status).toBe("failed");
    expect(dataBytes(queried)).toBe(MAX_TASK_DATA_BYTES);
    expect(queried.error).toBe("e".repeat(MAX_TASK_DATA_BYTES - MAX_PAYLOAD_BYTES));

    // An error reply would have to mean nothing changed: these answer what they committed.
    expect((await read({ kind: "CancelTask", id })).status).toBe("cancelled");
    expect((await read({ kind: "WaitResult", id, waitMs: 1000 })).status).toBe("cancelled");
    const retried = await read({ kind: "RetryTask", id });
    expect(retried.status).toBe("pending");
    expect(retried.attempts).toBe(0);

    // Paging goes past the big task: a page of one, then the rest.
    const first = await client.call({ kind: "ListTasks", queue: "size-error", limit: 10 }, "TaskList");
    expect(first.tasks.map((t) => t.id)).toEqual([id]);
    expect(first.nextCursor).not.toBeNull();
    const second = await client.call({ kind: "ListTasks", queue: "size-error", limit: 10, cursor: first.nextCursor! }, "TaskList");
    expect(second.tasks.map((t) => t.id)).toEqual([small]);
  }, 60_000);

  test("the SDK worker reports a result too big to keep as a failure instead of leaving the task leased", async () => {
    const worker = new Worker({ url: `tq://127.0.0.1:${broker.port}`, env: {}, handleSignals: false, queues: ["size-sdk"] });
    const errors: unknown[] = [];
    worker.on("error", (err) => errors.push(err));
    worker.register("big", () => bytes(9 * MiB));
    try {
      const { id } = await client.submit("big", bytes(9 * MiB), { queue: "size-sdk", maxRetries: 0 });
      await worker.start();
      const deadline = Date.now() + 20_000;
      let info = await client.status(id);
      // Polls for the SDK worker's report; no broker timer is involved.
      while (info.status !== "dead" && Date.now() < deadline) {
        await Bun.sleep(50);
        info = await client.status(id);
      }
      expect(info.status).toBe("dead");
      expect(info.error).toContain("InvalidFieldError");
      expect(info.error).toContain("result");
      expect(errors).toEqual([]);
    } finally {
      await worker.stop();
    }
  }, 60_000);
});

describe("a task stored over the limit by an earlier build", () => {
  test("is still answered on every read path, without its result and saying why", async () => {
    const dir = broker.dataDir;
    const id = await submit({ type: "legacy", queue: "size-legacy", payload: bytes(9 * MiB) });
    await complete(await claimOne("size-legacy"), bytes(10));
    await client.close();
    await broker.stopKeepData();
    // What an earlier build let through: a 9 MiB result beside the 9 MiB payload.
    // The row's checksum is written as that build's write would have (row-checksum.ts), so the
    // checks at open take it as a good row, not as damage.
    const db = new Database(join(dir, DATABASE_FILE));
    const row = db.query("SELECT * FROM tasks WHERE type = 'legacy'").get() as StateFields & { seq: number };
    const result = new Uint8Array(9 * MiB);
    expect(db.run("UPDATE tasks SET result = ?, state_crc = ? WHERE seq = ?", [result, stateCrc({ ...row, result }), row.seq]).changes).toBe(1);
    db.close();
    broker = await startBroker({}, dir);
    client = new Client({ url: `tq://127.0.0.1:${broker.port}`, env: {}, requestTimeoutMs: 20_000 });

    for (const info of [await read({ kind: "QueryStatus", id }), await read({ kind: "WaitResult", id, waitMs: 100 })]) {
      expect(info.status).toBe("completed");
      expect(info.payload.byteLength).toBe(9 * MiB);
      expect(info.result).toBeNull();
      expect(info.error).toContain("left out");
    }
    const page = await client.call({ kind: "ListTasks", queue: "size-legacy", limit: 10 }, "TaskList");
    expect(page.tasks.map((t) => [t.id, t.result])).toEqual([[id, null]]);
    // The REST API has no frame limit: it shows the whole task.
    const rest = await fetch(`http://127.0.0.1:${broker.httpPort}/api/v1/tasks/${id}`);
    expect(rest.status).toBe(200);
    const body = (await rest.json()) as { result_base64: string };
    expect(Buffer.from(body.result_base64, "base64").byteLength).toBe(9 * MiB);
  }, 60_000);
});
