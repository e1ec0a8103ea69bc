// gRPC auth through the real port: the `authorization: Bearer` key and the roles of the TCP
// protocol (the auth matrix: no key, wrong key, wrong role), auth.max_failures_per_connection,
// and the connection limits applied to gRPC connections.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { GrpcTestClient } from "../helpers/grpc-client.ts";

const KEYS = { admin: "admin-key-0123456789abcdef", producer: "producer-key-0123456789abcdef", worker: "worker-key-0123456789abcdef" };
let broker: TestBroker;

beforeAll(async () => {
  broker = await startBroker({
    "auth.enabled": true,
    "auth.api_keys": Object.entries(KEYS).map(([role, key]) => ({ name: `${role}-app`, role, key })),
    "auth.max_failures_per_connection": 3,
  });
});

afterAll(async () => {
  await broker.stop();
});

describe("the auth matrix", () => {
  test("no key and a wrong key are UNAUTHENTICATED, naming the metadata; nothing is stored", async () => {
    const c = new GrpcTestClient(broker.grpcPort);
    try {
      const none = await c.error("Submit", { task: { type: "t" } });
      expect(none.code).toBe(GrpcStatus.UNAUTHENTICATED);
      expect(none.details).toContain("authorization: Bearer");
      expect(none.metadata.get("tq-error-name")).toEqual(["Unauthorized"]);
      expect(none.metadata.get("tq-error-field")).toEqual(["authorization"]);
      const wrong = await c.error("Submit", { task: { type: "t" } }, { key: "not-a-key-0123456789" });
      expect(wrong.code).toBe(GrpcStatus.UNAUTHENTICATED);
      expect(wrong.details).toBe("the API key is not valid");
      expect((await broker.app.broker.stats()).totals.submitted).toBe(0);
    } finally {
      c.close();
    }
  });

  test("each role may call what it may send over TCP, and gets PERMISSION_DENIED for the rest", async () => {
    const c = new GrpcTestClient(broker.grpcPort);
    try {
      const { id } = await c.call("Submit", { task: { type: "t", queue: "roles" } }, { key: KEYS.producer });
      expect((await c.call("GetServerInfo", {}, { key: KEYS.producer })).role).toBe("producer");
      await c.call("GetTask", { id }, { key: KEYS.producer });
      await c.call("ListTasks", { limit: 1 }, { key: KEYS.producer });
      const producerClaims = await c.error("Claim", { max: 1 }, { key: KEYS.producer });
      expect(producerClaims.code).toBe(GrpcStatus.PERMISSION_DENIED);
      expect(producerClaims.metadata.get("tq-error-name")).toEqual(["Forbidden"]);
      expect((await c.error("RetryTask", { id }, { key: KEYS.producer })).code).toBe(GrpcStatus.PERMISSION_DENIED);

      expect((await c.error("Submit", { task: { type: "t" } }, { key: KEYS.worker })).code).toBe(GrpcStatus.PERMISSION_DENIED);
      expect((await c.error("GetTask", { id }, { key: KEYS.worker })).code).toBe(GrpcStatus.PERMISSION_DENIED);
      const claimed = await c.call("Claim", { queues: ["roles"], max: 1 }, { key: KEYS.worker });
      expect(claimed.tasks.map((t: { id: string }) => t.id)).toEqual([id]);

      // RetryTask is admin's: the task is not retryable while it runs, so InvalidState, not Forbidden.
      expect((await c.error("RetryTask", { id }, { key: KEYS.admin })).code).toBe(GrpcStatus.FAILED_PRECONDITION);

      // The worker stream needs the worker role too.
      const stream = c.work({ key: KEYS.producer });
      stream.send({ start: { worker_id: "p-stream", concurrency: 1 } });
      expect((await stream.ended()).code).toBe(GrpcStatus.PERMISSION_DENIED);
    } finally {
      c.close();
    }
  });

  test("a worker id belongs to the connection that registered it: another connection may not claim or heartbeat for it", async () => {
    const owner = new GrpcTestClient(broker.grpcPort, { key: KEYS.worker });
    const other = new GrpcTestClient(broker.grpcPort, { key: KEYS.worker });
    try {
      await owner.call("RegisterWorker", { worker_id: "owned", concurrency: 1 });
      const claim = await other.error("Claim", { worker_id: "owned", max: 1 });
      expect(claim.code).toBe(GrpcStatus.PERMISSION_DENIED);
      expect(claim.metadata.get("tq-error-field")).toEqual(["worker_id"]);
      const hb = await other.error("Heartbeat", { worker_id: "owned", cpu_percent: 0 });
      expect(hb.code).toBe(GrpcStatus.PERMISSION_DENIED);
      expect((await owner.call("Heartbeat", { worker_id: "owned", cpu_percent: 1 })).command).toBe("WORKER_COMMAND_NONE");
    } finally {
      owner.close();
      other.close();
    }
  });

  test("health and reflection need no key, as /healthz does not", async () => {
    const c = new GrpcTestClient(broker.grpcPort);
    try {
      const reply = await new Promise((resolve, reject) => c.health.Check({ service: "" }, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))));
      expect(reply).toEqual({ status: "SERVING" });
    } finally {
      c.close();
    }
  });

  test("after auth.max_failures_per_connection bad keys the connection is closed", async () => {
    const c = new GrpcTestClient(broker.grpcPort);
    try {
      const before = broker.app.metrics;
      for (let i = 0; i < 3; i++) expect((await c.error("GetStats", {}, { key: `bad-${i}-0123456789abcdef` })).code).toBe(GrpcStatus.UNAUTHENTICATED);
      const metrics = await before.render();
      expect(metrics).toMatch(/tq_auth_failures_total\{front_door="grpc"\} [3-9]/);
      // The broker closes the connection; the channel reconnects and a good key works at once.
      await Bun.sleep(150);
      expect((await c.call("GetStats", {}, { key: KEYS.admin })).json).toContain("uptimeMs");
    } finally {
      c.close();
    }
  });
});

describe("connection limits", () => {
  test("past broker.max_connections a connection's calls are refused UNAVAILABLE TooManyConnections", async () => {
    const small = await startBroker({ "broker.max_connections": 1 });
    const first = new GrpcTestClient(small.grpcPort);
    const second = new GrpcTestClient(small.grpcPort);
    try {
      await first.call("GetServerInfo");
      const refused = await second.error("GetServerInfo");
      expect(refused.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(refused.metadata.get("tq-error-name")).toEqual(["TooManyConnections"]);
      expect(await small.app.metrics.render()).toMatch(/tq_connections_refused_total\{reason="max_connections"\} [1-9]/);
    } finally {
      first.close();
      second.close();
      await small.stop();
    }
  });
});
