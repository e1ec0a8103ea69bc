// Blocking claims and the connection's abort signal: a parked claim listens for the connection
// going away, and stops listening once it is answered (served or timed out).

import { afterEach, expect, test } from "bun:test";
import { FakeClock } from "../../helpers/fake-clock.ts";
import { startHarness, type Harness } from "../../helpers/http-harness.ts";

let harness: Harness | null = null;

afterEach(async () => {
  await harness?.stop();
  harness = null;
});

/** An AbortSignal that counts the listeners on it. */
function countingSignal(): { signal: AbortSignal; listening: () => number; abort: () => void } {
  const controller = new AbortController();
  const listeners = new Set<unknown>();
  const signal = controller.signal;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, listener: EventListener, options?: AddEventListenerOptions) => {
    listeners.add(listener);
    add(type, listener, options);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, listener: EventListener) => {
    listeners.delete(listener);
    remove(type, listener);
  }) as typeof signal.removeEventListener;
  return { signal, listening: () => listeners.size, abort: () => controller.abort() };
}

test("a blocking claim stops listening to its connection's signal once answered, served or timed out", async () => {
  const clock = new FakeClock();
  harness = await startHarness({ clock });
  const { broker } = harness;
  const { signal, listening } = countingSignal();
  for (let i = 0; i < 50; i++) {
    const claim = broker.claim({ workerId: "w1", queues: ["q"], max: 1, waitMs: 10_000, signal });
    await Bun.sleep(0);
    expect(listening()).toBe(1);
    await broker.submit([{ type: "t", queue: "q" }]);
    const leases = await claim;
    expect(leases).toHaveLength(1);
    expect(listening()).toBe(0);
  }
  const timing = broker.claim({ workerId: "w1", queues: ["q"], max: 1, waitMs: 30_000, signal });
  await Bun.sleep(0);
  expect(listening()).toBe(1);
  clock.advance(30_000);
  expect(await timing).toEqual([]);
  expect(listening()).toBe(0);
});

test("a parked claim is answered with nothing when its connection goes away", async () => {
  harness = await startHarness();
  const { signal, abort } = countingSignal();
  const claim = harness.broker.claim({ workerId: "w1", queues: ["q"], max: 1, waitMs: 60_000, signal });
  await Bun.sleep(0);
  abort();
  expect(await claim).toEqual([]);
  expect((await harness.broker.stats()).parkedClaims).toBe(0);
});

test("a claim asking for more than broker.max_batch_claim gets that many, not an error", async () => {
  harness = await startHarness();
  await harness.broker.submit(Array.from({ length: 15 }, () => ({ type: "t", queue: "capped" })));
  const leases = await harness.broker.claim({ workerId: "w1", queues: ["capped"], max: 50, waitMs: 0 });
  expect(leases).toHaveLength(10);
  const rest = await harness.broker.claim({ workerId: "w1", queues: ["capped"], max: 0xffff, waitMs: 1000 });
  expect(rest).toHaveLength(5);
  await expect(harness.broker.claim({ workerId: "w1", queues: ["capped"], max: 0, waitMs: 0 })).rejects.toMatchObject({ code: 4, field: "max" });
});
