// The composed broker serves all three listeners from one config, and both front doors share one
// set of queue rules: a task submitted over HTTP is claimed over TCP, and metrics see both.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, complete, expectKind } from "../helpers/wire.ts";

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
});
