// The Store contract as one suite every backend must pass (SQLite now, PostgreSQL later), modelled
// on hono's common.case.test.ts. Time is passed explicitly from a FakeClock: no sleeps anywhere.

import { describe, expect } from "bun:test";
import { BrokerError, type ErrorCodeValue } from "../../src/protocol/errors.ts";
import { PRIORITY_TIERS } from "../../src/protocol/limits.ts";
import type { BackoffPolicy } from "../../src/rules/backoff.ts";
import type { RetryPolicy } from "../../src/rules/transitions.ts";
import type { Store, StoreEvents, TaskEnd } from "../../src/store/store.ts";
import type { Lease, NewTask } from "../../src/rules/task.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { eventsCases } from "./events-cases.ts";
import { leaseCases } from "./leases-cases.ts";
import { lifecycleCases } from "./lifecycle-cases.ts";
import { operatorCases } from "./operator-cases.ts";
import { orderingCases } from "./ordering-cases.ts";
import { recoveryCases } from "./recovery-cases.ts";
import { claim } from "../helpers/store-ops.ts";

export interface StoreHarness {
  store: Store;
  /** Closes the store and opens the same storage again (clean restart). */
  reopen(): Promise<Store>;
  /** Opens the same storage again without closing the current instance (an unclean stop). */
  reopenUnclean(): Promise<Store>;
  cleanup(): Promise<void>;
}

/** What a store is opened with in the contract: the rules' policy and the events it must send. */
export interface HarnessOptions {
  retry: RetryPolicy;
  events: Partial<StoreEvents>;
}

/** Every event a store sent, in order, for the cases to assert on. */
export class EventLog implements StoreEvents {
  readonly readied: Array<[string, number]> = [];
  readonly ended: TaskEnd[] = [];
  readonly dues: number[] = [];
  readonly pauses: Array<[string, boolean]> = [];
  readonly workerCommands: Array<[string, string]> = [];

  ready(queue: string, count: number): void {
    this.readied.push([queue, count]);
  }

  finished(ends: readonly TaskEnd[]): void {
    this.ended.push(...ends);
  }

  due(atMs: number): void {
    this.dues.push(atMs);
  }

  paused(queue: string, paused: boolean): void {
    this.pauses.push([queue, paused]);
  }

  workerCommand(workerId: string, command: string): void {
    this.workerCommands.push([workerId, command]);
  }

  /** Tasks announced ready per queue, summed. */
  readyCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [queue, count] of this.readied) out[queue] = (out[queue] ?? 0) + count;
    return out;
  }

  clear(): void {
    this.readied.length = 0;
    this.ended.length = 0;
    this.dues.length = 0;
    this.pauses.length = 0;
    this.workerCommands.length = 0;
  }
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

/** What each group of cases gets: a fresh store per test (with the log of its events), and a one-task claim helper. */
export interface ContractContext {
  setup(options?: { retry?: RetryPolicy }): Promise<{ clock: FakeClock; h: StoreHarness; store: Store; events: EventLog }>;
  claimOne(store: Store, clock: FakeClock, queues?: string[], workerId?: string): Promise<Lease>;
}

export function runStoreContract(name: string, makeStore: MakeStore): void {
  const context: ContractContext = {
    async setup(options = {}) {
      const clock = new FakeClock();
      const events = new EventLog();
      const h = await makeStore({ retry: options.retry ?? { backoff: EXACT_BACKOFF, random: () => 0.5 }, events });
      return { clock, h, store: h.store, events };
    },
    async claimOne(store, clock, queues = ["default"], workerId = "w1") {
      const leases = await claim(store, { queues, workerId, max: 1, nowMs: clock.now() });
      expect(leases).toHaveLength(1);
      return leases[0]!;
    },
  };
  describe(`Store contract: ${name}`, () => {
    describe("ordering", () => orderingCases(context));
    describe("leases", () => leaseCases(context));
    describe("lifecycle", () => lifecycleCases(context));
    describe("recovery", () => recoveryCases(context));
    describe("events and rules", () => eventsCases(context));
    describe("operators", () => operatorCases(context));
  });
}
