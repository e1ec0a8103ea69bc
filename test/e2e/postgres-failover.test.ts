// A worker given two brokers that share one PostgreSQL database (tq://a,b) loses its broker to
// kill -9 while it runs a task submitted through that broker: it moves to the other broker,
// re-registers and subscribes there, and the task's result goes through the survivor (the lease
// lives in the database, so the run is not lost or repeated). A producer given both URLs, whose
// result wait was parked on the dead broker, gets the result through the survivor. Real brokers: the doomed one is a
// process, killed for real.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { Client } from "../../src/client/client.ts";
import { Worker } from "../../src/client/worker.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { spawnBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { dropSchema, freshSchema, postgresBrokerConfig, testPostgres } from "../helpers/postgres.ts";
import { eventually } from "../helpers/wire.ts";

const schema = freshSchema("failover");
let doomed: BrokerProcess | null = null;
let survivor: TestBroker | null = null;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  await testPostgres();
  const env = Object.fromEntries(Object.entries(await postgresBrokerConfig(schema, "doomed")).map(([k, v]) => [`TQ_${k.replaceAll(".", "_").toUpperCase()}`, String(v)]));
  doomed = await spawnBroker({ env });
  survivor = await startBroker(await postgresBrokerConfig(schema, "survivor"));
}, 120_000);

afterAll(async () => {
  for (const close of closers.splice(0)) await close().catch(() => {});
  if (doomed !== null && doomed.proc.exitCode === null) doomed.proc.kill("SIGKILL");
  await survivor?.stop();
  await dropSchema(schema);
});

test("a worker moves from a broker killed with -9 to the other one and finishes the task submitted through the dead one", async () => {
  const a = doomed!;
  const b = survivor!;
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const worker = new Worker({
    url: `tq://127.0.0.1:${a.port},127.0.0.1:${b.port}`,
    env: {},
    queues: ["moving"],
    handleSignals: false,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
  });
  worker.on("error", () => {});
  worker.register("hold", async (task) => {
    started();
    await released;
    return { done: task.payload };
  });
  worker.register("after", async (task) => ({ after: task.payload }));
  closers.push(() => worker.stop({ timeoutMs: 1000 }));
  await worker.start();
  expect(worker.client.channel.endpoint.port).toBe(a.port);

  // A producer given the same two brokers submits through the first and waits for the result there.
  const producer = new Client({ url: `tq://127.0.0.1:${a.port},127.0.0.1:${b.port}`, env: {}, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
  closers.push(() => producer.close());
  const { id } = await producer.submit("hold", "through-a", { queue: "moving" });
  expect(producer.channel.endpoint.port).toBe(a.port);
  await running;
  const awaited = producer.result(id, { wait: 30_000 });

  a.proc.kill("SIGKILL");
  await a.exited;
  // The worker reconnects to the survivor and registers there, the task still running.
  await eventually(() => worker.client.channel.isReady && worker.client.channel.endpoint.port === b.port, 10_000);
  const onB = new Client({ url: `tq://127.0.0.1:${b.port}`, env: {} });
  closers.push(() => onB.close());
  await eventually(async () => (await onB.workers()).some((w) => w.id === worker.workerId), 10_000);
  expect((await onB.status(id)).status).toBe("in_progress");

  release();
  expect(await onB.result(id, { wait: 15_000 })).toEqual({ done: "through-a" });
  // The producer's result wait, parked on the killed broker, was resent to the survivor and answered there.
  expect(await awaited).toEqual({ done: "through-a" });
  expect(producer.channel.endpoint.port).toBe(b.port);
  // One run: the lease held across the move, so the task was neither reclaimed nor retried.
  expect((await onB.status(id)).attempts).toBe(0);
  // And new work reaches it through the survivor's subscription.
  const next = await onB.submit("after", 2, { queue: "moving" });
  expect(await onB.result(next.id, { wait: 15_000 })).toEqual({ after: 2 });
}, 60_000);
