// The composed broker serves all three listeners from one config, and both front doors share one
// set of queue rules: a task submitted over HTTP is claimed over TCP, metrics see both, and the
// same bad submit is refused by both, each naming the field as its own clients write it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, complete, expectKind, spec } from "../helpers/wire.ts";

let broker: TestBroker;

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  await broker.stop();
});

describe("front doors", () => {
  test("every listener is up on the port the OS gave it", async () => {
    expect(broker.port).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${broker.httpPort}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${broker.httpPort}/readyz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${broker.metricsPort}/metrics`)).status).toBe(200);
  });

  test("a task submitted over HTTP is claimed and completed over TCP, and the metrics count it", async () => {
    const created = await fetch(`http://127.0.0.1:${broker.httpPort}/api/v1/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "cross", queue: "cross", payload: { n: 1 }, priority: "high" }),
    });
    expect(created.status).toBeLessThan(300);
    const body = (await created.json()) as { id?: string; tasks?: { id: string }[] };
    const id = body.id ?? body.tasks?.[0]?.id;
    const conn = await RawConn.connect(broker.port);
    const [task] = await claim(conn, { queues: ["cross"] });
    expect(task?.id).toBe(id!);
    expect(task?.priority).toBe(255);
    expect(JSON.parse(new TextDecoder().decode(task!.payload))).toEqual({ n: 1 });
    expectKind(await complete(conn, task!), "Ack");
    conn.close();
    const shown = (await (await fetch(`http://127.0.0.1:${broker.httpPort}/api/v1/tasks/${id}`)).json()) as { status?: string; task?: { status: string } };
    expect(shown.status ?? shown.task?.status).toBe("completed");
    const metrics = await (await fetch(`http://127.0.0.1:${broker.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^tq_tasks_total\{outcome="completed"\} [1-9]/m);
    expect(metrics).toMatch(/^tq_group_commit/m);
  });

  test("the same bad submit names the field in each door's spelling: runAtMs over TCP, run_at_ms over REST", async () => {
    const cases = [
      { tcp: { runAtMs: 9e15 }, rest: { run_at_ms: 9e15 }, tcpField: "runAtMs", restField: "run_at_ms" },
      { tcp: { maxRetries: 5000 }, rest: { max_retries: 5000 }, tcpField: "maxRetries", restField: "max_retries" },
      { tcp: { leaseMs: 5 }, rest: { lease_ms: 5 }, tcpField: "leaseMs", restField: "lease_ms" },
      { tcp: { idempotencyKey: "k".repeat(300) }, rest: { idempotency_key: "k".repeat(300) }, tcpField: "idempotencyKey", restField: "idempotency_key" },
    ];
    const conn = await RawConn.connect(broker.port);
    try {
      for (const c of cases) {
        const tcp = expectKind(await conn.call({ kind: "SubmitBatch", tasks: [spec("ok"), spec("bad", c.tcp)] }), "Error");
        const res = await fetch(`http://127.0.0.1:${broker.httpPort}/api/v1/tasks`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ tasks: [{ type: "ok" }, { type: "bad", ...c.rest }] }),
        });
        const rest = ((await res.json()) as { error: { code: number; field: string; message: string } }).error;
        expect({ code: tcp.code, field: tcp.field, startsWithField: tcp.message.startsWith(`tasks[1].${c.tcpField}: `) }).toEqual({
          code: 4,
          field: `tasks[1].${c.tcpField}`,
          startsWithField: true,
        });
        expect({ status: res.status, code: rest.code, field: rest.field, startsWithField: rest.message.startsWith(`tasks[1].${c.restField}: `) }).toEqual({
          status: 400,
          code: 4,
          field: `tasks[1].${c.restField}`,
          startsWithField: true,
        });
      }
    } finally {
      conn.close();
    }
  });
});
