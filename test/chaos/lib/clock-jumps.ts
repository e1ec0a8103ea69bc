// Scenario 6: the SQLite store driven by the Scheduler under a JumpClock: leases, delayed tasks
// and retries while the wall clock steps forward and back. Time only moves when this code says
// so; nothing sleeps. Checks each lease's expiry against every tick the scheduler ran.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Scheduler } from "../../../src/background/scheduler.ts";
import { openSqliteStore, type SqliteStore } from "../../../src/store/sqlite/sqlite-store.ts";
import type { NewTask } from "../../../src/rules/task.ts";
import { JumpClock } from "./jump-clock.ts";
import { seededRandom } from "./tier.ts";
import { claim, complete, fail } from "../../helpers/store-ops.ts";

export const MAX_SLEEP_MS = 1000;

export interface TimeRig {
  clock: JumpClock;
  store: SqliteStore;
  scheduler: Scheduler;
  /** Wall times of every tick so far. */
  ticks: number[];
  expiredTotal: number;
  /** Lets `ms` of real time pass in steps of at most a second, letting each tick finish. */
  pass(ms: number): Promise<void>;
  close(): Promise<void>;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function openTimeRig(): Promise<TimeRig> {
  const dir = mkdtempSync(join(tmpdir(), "tq-chaos-time-"));
  const clock = new JumpClock();
  const store = openSqliteStore({ path: join(dir, "time.db"), sync: "interval", retry: { backoff: { baseMs: 1000, factor: 2, maxMs: 60_000, jitter: 0 }, random: () => 0.5 } });
  const rig: TimeRig = {
    clock,
    store,
    ticks: [],
    expiredTotal: 0,
    scheduler: new Scheduler({
      store,
      clock,
      maxSleepMs: MAX_SLEEP_MS,
      onTick: (outcome, nowMs) => {
        rig.ticks.push(nowMs);
        rig.expiredTotal += outcome.expired;
      },
    }),
    async pass(ms) {
      for (let left = ms; left > 0; left -= 250) {
        clock.advance(Math.min(250, left));
        for (let i = 0; i < 4; i++) await turn();
      }
      for (let i = 0; i < 4; i++) await turn();
    },
    async close() {
      await rig.scheduler.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  rig.scheduler.start();
  await rig.pass(0);
  return rig;
}

export function newTask(fields: Partial<NewTask> = {}): NewTask {
  return { type: "t", queue: "time", payload: new Uint8Array(1), payloadIsJson: false, priority: 100, runAtMs: null, maxRetries: 50, leaseMs: 30_000, idempotencyKey: null, ...fields };
}

interface HeldLease {
  id: string;
  token: number;
  expiresAtMs: number;
  /** Index into rig.ticks when the lease was granted or last renewed. */
  sinceTick: number;
}

export interface RandomJumpReport {
  steps: number;
  jumps: number;
  submitted: number;
  /** A lease found expired although no tick since its grant saw its deadline. */
  earlyExpiries: string[];
  /** A lease still live although a tick since its grant saw its deadline. */
  missedExpiries: string[];
  /** A claim returned a delayed task before any clock reading reached its run_at. */
  earlyPromotions: string[];
  /** A result with a live lease refused, or with an expired one accepted. */
  wrongResults: string[];
  /** Longest monotonic wait until the scheduler's next tick, seen after any step. */
  maxSchedulerSleepMs: number;
  /** Tasks not finished after the final drain. */
  stuck: number;
  finishedAfterDrain: number;
}

/** Seeded random operations and clock steps; every invariant checked after every step. */
export async function randomJumps(options: { steps: number; seed: number; maxJumpMs: number }): Promise<RandomJumpReport> {
  const random = seededRandom(options.seed);
  const rig = await openTimeRig();
  const report: RandomJumpReport = { steps: 0, jumps: 0, submitted: 0, earlyExpiries: [], missedExpiries: [], earlyPromotions: [], wrongResults: [], maxSchedulerSleepMs: 0, stuck: 0, finishedAfterDrain: 0 };
  const held = new Map<string, HeldLease>();
  const ids: string[] = [];
  try {
    for (let step = 0; step < options.steps; step++) {
      report.steps++;
      const now = rig.clock.now();
      const roll = random();
      if (roll < 0.25) {
        const tasks = Array.from({ length: 1 + Math.floor(random() * 4) }, () =>
          newTask({ runAtMs: random() < 0.4 ? now + Math.floor(random() * 120_000) : null, leaseMs: 2000 + Math.floor(random() * 30_000) }),
        );
        const outcomes = await rig.store.submit(tasks, now);
        report.submitted += outcomes.length;
        ids.push(...outcomes.map((o) => o.id));
      } else if (roll < 0.5) {
        const leases = await claim(rig.store, { queues: ["time"], workerId: "w", max: 1 + Math.floor(random() * 4), nowMs: now });
        for (const l of leases) {
          if (l.task.runAtMs !== null && l.task.runAtMs > rig.clock.maxWallMs) report.earlyPromotions.push(`${l.task.id} run_at ${l.task.runAtMs} > max wall ${rig.clock.maxWallMs}`);
          held.set(l.task.id, { id: l.task.id, token: l.token, expiresAtMs: l.expiresAtMs, sinceTick: rig.ticks.length });
        }
      } else if (roll < 0.7 && held.size > 0) {
        const lease = [...held.values()][Math.floor(random() * held.size)]!;
        const live = !expiredByTicks(rig, lease);
        const action = random();
        try {
          if (action < 0.5) await complete(rig.store, { id: lease.id, token: lease.token }, { result: null, resultIsJson: false }, now);
          else if (action < 0.8) await fail(rig.store, { id: lease.id, token: lease.token }, { error: "x", unrecoverable: false }, now);
          else {
            const [expiry] = await rig.store.renew([{ id: lease.id, token: lease.token }], now);
            if (expiry === null || expiry === undefined) throw new Error("renew refused");
            held.set(lease.id, { ...lease, expiresAtMs: expiry, sinceTick: rig.ticks.length });
            continue;
          }
          if (!live) report.wrongResults.push(`${lease.id}: result accepted after its lease expired`);
        } catch (err) {
          if (live) report.wrongResults.push(`${lease.id}: live lease refused: ${String(err)}`);
        }
        held.delete(lease.id);
      }
      if (random() < 0.12) {
        report.jumps++;
        rig.clock.jump(Math.floor((random() * 2 - 1) * options.maxJumpMs));
      }
      await rig.pass(Math.floor(random() * 1500));
      report.maxSchedulerSleepMs = Math.max(report.maxSchedulerSleepMs, rig.clock.nextTimerInMs() ?? Number.POSITIVE_INFINITY);
      await checkLeases(rig, held, report);
    }

    // Liveness: past every deadline ever set, everything drains.
    rig.clock.jump(rig.clock.maxWallMs - rig.clock.now() + 3_600_000);
    await rig.pass(3000);
    for (let round = 0; round < 10_000; round++) {
      const leases = await claim(rig.store, { queues: ["time"], workerId: "drain", max: 50, nowMs: rig.clock.now() });
      if (leases.length === 0) break;
      for (const l of leases) await complete(rig.store, { id: l.task.id, token: l.token }, { result: null, resultIsJson: false }, rig.clock.now());
    }
    const counts = (await rig.store.counts());
    report.stuck = counts.pending + counts.scheduled + counts.inProgress;
    for (const id of ids) {
      const task = await rig.store.get(id);
      if (task && (task.status === "completed" || task.status === "dead")) report.finishedAfterDrain++;
    }
  } finally {
    await rig.close();
  }
  return report;
}

function expiredByTicks(rig: TimeRig, lease: HeldLease): boolean {
  for (let i = lease.sinceTick; i < rig.ticks.length; i++) if (rig.ticks[i]! >= lease.expiresAtMs) return true;
  return false;
}

async function checkLeases(rig: TimeRig, held: Map<string, HeldLease>, report: RandomJumpReport): Promise<void> {
  for (const lease of [...held.values()]) {
    const task = await rig.store.get(lease.id);
    const liveInStore = task !== null && task.status === "in_progress" && task.leaseExpiresAtMs === lease.expiresAtMs;
    const shouldBeExpired = expiredByTicks(rig, lease);
    if (!liveInStore && !shouldBeExpired) report.earlyExpiries.push(`${lease.id} deadline ${lease.expiresAtMs}, ticks up to ${Math.max(...rig.ticks.slice(lease.sinceTick))}`);
    if (liveInStore && shouldBeExpired) report.missedExpiries.push(`${lease.id} deadline ${lease.expiresAtMs}`);
    if (!liveInStore) held.delete(lease.id);
  }
}
