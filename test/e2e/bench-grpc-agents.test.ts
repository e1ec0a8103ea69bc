// The bench's gRPC agents against a real broker: the producer's SubmitBatch calls and the worker's
// Work streams go through the gRPC port (the broker counts them per method), and every task is
// completed exactly once, as the TCP agents do.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { runGrpcProducer, runGrpcWorker } from "../../src/bench/grpc-agents.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";

let broker: TestBroker;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker.stop();
});

test("gRPC producer and worker agents: 300 tasks submitted and completed exactly once through the gRPC door", async () => {
  const base = { host: "127.0.0.1", port: broker.port, grpcPort: broker.grpcPort, queue: "bench-grpc", deadlineMs: 30_000, recordIds: true };
  const go = async (): Promise<void> => {};
  let stopWorker = (): void => {};
  const workerStop = new Promise<void>((resolve) => (stopWorker = resolve));
  const worker = runGrpcWorker({ ...base, role: "worker", lanes: 2, batch: 20, waitMs: 1000, recordLatency: false, consumer: "raw", prefetch: null, preloaded: false }, go, workerStop, (done) => {
    if (done >= 300) stopWorker();
  });
  const produced = await runGrpcProducer({ ...base, role: "producer", n: 300, payloadBytes: 10, batch: 50, window: 2 }, go, new Promise(() => {}), () => {});
  const worked = await worker;
  expect(produced.submitted).toBe(300);
  expect(produced.errors).toEqual({});
  expect(worked.completed).toBe(300);
  expect(new Set(worked.ids)).toEqual(new Set(produced.ids));
  const metrics = await broker.app.metrics.render();
  expect(metrics).toContain('tq_grpc_requests_total{method="SubmitBatch",code="OK"} 6');
  expect(metrics).toContain('tq_grpc_requests_total{method="Work",code="OK"} 2');
});
