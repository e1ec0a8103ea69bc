// Dead workers are found on time: a poke for a later check never postpones an earlier one.
import { expect, test } from "bun:test";
import { WorkerReaper } from "../../../src/broker/worker-reaper.ts";
import { WorkerRegistry, type WorkerState } from "../../../src/workers/registry.ts";
import { FakeClock } from "../../helpers/fake-clock.ts";

const info = (id: string) => ({ id, hostname: "h", pid: 1, queues: [], concurrency: 1, version: "", labels: {} });

test("a silent worker is reaped at two heartbeat intervals even when a disconnect asks for a later check", async () => {
  const clock = new FakeClock(0);
  const registry = new WorkerRegistry({ heartbeatIntervalMs: 1000, disconnectGraceMs: 5000, maxInactivityMs: 3_600_000 });
  const dead: string[] = [];
  registry.register(info("silent"), 0);
  const reaper = new WorkerReaper({
    registry,
    clock,
    maxSleepMs: 1000,
    onDead: async (w: WorkerState) => void dead.push(w.id),
    onError: (err) => {
      throw err;
    },
  });
  clock.advance(1000);
  await Promise.resolve();
  // A connection of another worker closes at 1.9 s: its check is due later (grace 5 s).
  clock.advance(900);
  registry.register(info("other"), clock.now());
  registry.disconnected("other", 1, clock.now());
  reaper.poke(5000);
  clock.advance(100);
  await Promise.resolve();
  await Promise.resolve();
  expect(dead).toEqual(["silent"]);
  reaper.stop();
});

test("a check stopped part-way (shutdown) reclaims no more workers", async () => {
  const clock = new FakeClock(0);
  const registry = new WorkerRegistry({ heartbeatIntervalMs: 1000, disconnectGraceMs: 0, maxInactivityMs: 3_600_000 });
  registry.register(info("a"), 0);
  registry.register(info("b"), 0);
  const reclaimed: string[] = [];
  let reaper: WorkerReaper | null = null;
  reaper = new WorkerReaper({
    registry,
    clock,
    maxSleepMs: 1000,
    onDead: async (w: WorkerState) => {
      reclaimed.push(w.id);
      reaper!.stop();
    },
    onError: (err) => {
      throw err;
    },
  });
  clock.set(5000);
  await reaper.check();
  expect(reclaimed).toEqual(["a"]);
});
