// Why a waiting task is not running: scheduled or backing off until when, its queue paused, no live
// worker serving its queue or handling its type (or every one quiet or busy), the ready tasks ahead
// of it. whyWaiting() is pure and judges facts; explainTask() gathers them from the broker.

import type { Task } from "../rules/task.ts";
import type { ReadyAhead } from "../store/store.ts";
import { declaredTypes } from "../protocol/worker-types-label.ts";
import { workerStatus, type WorkerState } from "../workers/registry.ts";

export const WAIT_REASONS = ["scheduled", "backing_off", "paused", "no_worker", "no_handler", "workers_stopping", "workers_busy", "behind", "next"] as const;
export type WaitCode = (typeof WAIT_REASONS)[number];

export interface WaitReason {
  code: WaitCode;
  /** One sentence for a person. */
  message: string;
  /** When the wait ends by itself (scheduled, backing off), epoch ms. */
  untilMs?: number;
  /** How many (tasks ahead, workers). */
  count?: number;
}

/** A worker serving the task's queue, with the tasks it holds now (from the broker's leases). */
export interface ServingWorker {
  worker: WorkerState;
  running: number;
}

export interface WaitFacts {
  nowMs: number;
  paused: boolean;
  /** Workers (alive, quiet, shutting down or dead) whose queues include the task's. */
  serving: readonly ServingWorker[];
  /** For a pending task: what is ahead of it; null otherwise. */
  ahead: ReadyAhead | null;
  /**
   * One of several brokers on one database: `serving` holds only the workers connected to this
   * broker, so the messages say so (a worker on another broker is not seen here).
   */
  cluster?: boolean;
}

const WAITING = new Set(["pending", "scheduled", "failed"]);

function inTime(ms: number): string {
  if (ms < 1000) return "in under a second";
  if (ms < 120_000) return `in ${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `in ${Math.round(ms / 60_000)} min`;
  return `in ${(ms / 3_600_000).toFixed(1)} h`;
}

/** The reasons a task is waiting, most decisive first; empty for a task that is running or finished. */
export function whyWaiting(task: Task, facts: WaitFacts): WaitReason[] {
  if (!WAITING.has(task.status)) return [];
  const reasons: WaitReason[] = [];
  const at = task.runAtMs ?? facts.nowMs;
  if (task.status === "scheduled") {
    reasons.push({ code: "scheduled", untilMs: at, message: `Scheduled: it becomes ready at ${new Date(at).toISOString()} (${inTime(at - facts.nowMs)}).` });
  } else if (task.status === "failed") {
    reasons.push({
      code: "backing_off",
      untilMs: at,
      message: `Backing off after failed attempt ${task.attempts} of ${task.maxRetries + 1}: retried at ${new Date(at).toISOString()} (${inTime(at - facts.nowMs)}).`,
    });
  }
  if (facts.paused) reasons.push({ code: "paused", message: `Its queue "${task.queue}" is paused: no claim takes its tasks until it is resumed.` });
  const live = facts.serving.filter((s) => workerStatus(s.worker) !== "dead");
  const taking = live.filter((s) => s.worker.command === "none");
  // Workers that say which types they handle (the tq.types label; the SDK's Worker sends it) and
  // leave this one out: a claim would hand them the task only for it to fail with no handler.
  const declared = live.map((s) => declaredTypes(s.worker.labels));
  const unhandled = live.length > 0 && declared.every((types) => types !== null && !types.includes(task.type));
  // In a cluster this broker knows only its own workers, and says so.
  const here = facts.cluster === true ? " connected to this broker" : "";
  const elsewhere = facts.cluster === true ? " (workers connected to other brokers of the cluster are not seen here)" : "";
  if (live.length === 0) {
    const dead = facts.serving.length - live.length;
    reasons.push({
      code: "no_worker",
      count: 0,
      message: `No live worker${here} serves queue "${task.queue}"${dead > 0 ? ` (${dead} that did are dead)` : ""}${elsewhere}.`,
    });
  } else if (unhandled) {
    const known = [...new Set(declared.flat() as string[])].sort();
    reasons.push({
      code: "no_handler",
      count: 0,
      message: `No live worker${here} serving queue "${task.queue}" handles type "${task.type}": the ${live.length} that serve it handle ${known.map((t) => `"${t}"`).join(", ")}${elsewhere}.`,
    });
  } else if (taking.length === 0) {
    reasons.push({ code: "workers_stopping", count: live.length, message: `The ${live.length} worker(s)${here} serving queue "${task.queue}" are quiet or shutting down: they take no new tasks${elsewhere}.` });
  } else if (task.status === "pending") {
    const slots = taking.reduce((n, s) => n + Math.max(1, s.worker.concurrency), 0);
    const running = taking.reduce((n, s) => n + s.running, 0);
    if (running >= slots) {
      reasons.push({ code: "workers_busy", count: taking.length, message: `Every worker${here} serving queue "${task.queue}" is busy: ${running} tasks running in ${slots} slots on ${taking.length} worker(s)${elsewhere}.` });
    }
  }
  if (task.status === "pending" && facts.ahead !== null) {
    const { higherPriority, samePriority } = facts.ahead;
    const total = higherPriority + samePriority;
    if (total > 0) {
      reasons.push({
        code: "behind",
        count: total,
        message: `Behind ${total} ready task(s) of queue "${task.queue}": ${higherPriority} of higher priority and ${samePriority} of its priority (${task.priority}) that became ready before it.`,
      });
    } else if (reasons.length === 0) {
      reasons.push({ code: "next", count: 0, message: `First in line: the next claim on queue "${task.queue}" takes it.` });
    }
  }
  return reasons;
}

/** What explainTask needs of the broker. */
export interface ExplainSource {
  isPaused(queue: string): boolean;
  workers: { list(): WorkerState[] };
  readyAhead(id: string): Promise<ReadyAhead | null>;
  count(filter: { status: "in_progress"; workerId: string }): Promise<number>;
  /** True on one of several brokers sharing a database (its registry holds only its own workers). */
  readonly clustered?: boolean;
}

/** whyWaiting with the broker's facts as they are now. */
export async function explainTask(source: ExplainSource, task: Task, nowMs: number): Promise<WaitReason[]> {
  if (!WAITING.has(task.status)) return [];
  const workers = source.workers.list().filter((w) => w.queues.includes(task.queue));
  const serving = await Promise.all(
    workers.map(async (worker) => ({ worker, running: workerStatus(worker) === "dead" ? 0 : await source.count({ status: "in_progress", workerId: worker.id }) })),
  );
  const ahead = task.status === "pending" ? await source.readyAhead(task.id) : null;
  return whyWaiting(task, { nowMs, paused: source.isPaused(task.queue), serving, ahead, cluster: source.clustered === true });
}
