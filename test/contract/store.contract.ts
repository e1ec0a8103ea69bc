// The Store contract as one suite every backend must pass (SQLite now, PostgreSQL later), modelled
// on hono's common.case.test.ts. Time is passed explicitly from a FakeClock: no sleeps anywhere.

import { describe, expect } from "bun:test";
import { BrokerError, type ErrorCodeValue } from "../../src/protocol/errors.ts";
import { PRIORITY_TIERS } from "../../src/protocol/limits.ts";
import type { BackoffPolicy } from "../../src/rules/backoff.ts";
import type { ReadyListener, Store } from "../../src/store/store.ts";
import type { Lease, NewTask } from "../../src/rules/task.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { leaseCases } from "./leases-cases.ts";
import { lifecycleCases } from "./lifecycle-cases.ts";
import { orderingCases } from "./ordering-cases.ts";
import { recoveryCases } from "./recovery-cases.ts";

export interface StoreHarness {
  store: Store;
  /** Closes the store and opens the same storage again (clean restart). */
  reopen(): Promise<Store>;
  /** Opens the same storage again without closing the current instance (an unclean stop). */
  reopenUnclean(): Promise<Store>;
  cleanup(): Promise<void>;
}

export interface HarnessOptions {
  backoff: BackoffPolicy;
  random: () => number;
  onReady?: ReadyListener;
}

export type MakeStore = (options: HarnessOptions) => Promise<StoreHarness>;

/** Backoff without jitter, so the contract can assert exact delays: 1 s, 2 s, 4 s, capped at 5 s. */
export const EXACT_BACKOFF: BackoffPolicy = { baseMs: 1000, factor: 2, maxMs: 5000, jitter: 0 };

export function task(overrides: Partial<NewTask> = {}): NewTask {
  return {
    type: "email.send",
    queue: "default",
    payload: new TextEncoder().encode('{"to":"a@example.com"}'),
    payloadIsJson: true,
    priority: PRIORITY_TIERS.normal.default,
    runAtMs: null,
    maxRetries: 3,
    leaseMs: 30_000,
    idempotencyKey: null,
    ...overrides,
  };
}

export async function expectCode(p: Promise<unknown>, code: ErrorCodeValue): Promise<BrokerError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(BrokerError);
  expect((caught as BrokerError).code).toBe(code);
  return caught as BrokerError;
}

/** What each group of cases gets: a fresh store per test, and a one-task claim helper. */
export interface ContractContext {
  setup(options?: Partial<HarnessOptions>): Promise<{ clock: FakeClock; h: StoreHarness; store: Store }>;
  claimOne(store: Store, clock: FakeClock, queues?: string[], workerId?: string): Promise<Lease>;
}

export function runStoreContract(name: string, makeStore: MakeStore): void {
  const context: ContractContext = {
    async setup(options = {}) {
      const clock = new FakeClock();
      const h = await makeStore({ backoff: EXACT_BACKOFF, random: () => 0.5, ...options });
      return { clock, h, store: h.store };
    },
    async claimOne(store, clock, queues = ["default"], workerId = "w1") {
      const leases = await store.claim({ queues, workerId, max: 1, nowMs: clock.now() });
      expect(leases).toHaveLength(1);
      return leases[0]!;
    },
  };
  describe(`Store contract: ${name}`, () => {
    describe("ordering", () => orderingCases(context));
    describe("leases", () => leaseCases(context));
    describe("lifecycle", () => lifecycleCases(context));
    describe("recovery", () => recoveryCases(context));
  });
}
