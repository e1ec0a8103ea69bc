// REST routes for operators: queues (with pause/resume), workers (with quiet/shutdown) and
// stats. Each handler only translates to one Broker call and renders the answer.

import { checkQueueName } from "../broker/submit-spec.ts";
import type { WorkerCommand } from "../protocol/wire-values.ts";
import { MAX_RUNNING_SHOWN, queuesJson, statsJson, workerJson, type WorkerRunning } from "./admin-json.ts";
import { ref } from "./api-schemas.ts";
import type { Route, RouteContext } from "./route.ts";
import { noBody } from "./task-routes.ts";

function queueAction(action: "pause" | "resume"): Route {
  return {
    method: "POST",
    path: `/api/v1/queues/{name}/${action}`,
    operation: "manage",
    operationId: `${action}Queue`,
    summary:
      action === "pause"
        ? "Stop claims from taking tasks of this queue (submits still accepted; running tasks finish). Kept by the store: a paused queue stays paused across restarts."
        : "Let claims take tasks of this queue again.",
    tag: "queues",
    pathParams: { name: "Queue name." },
    responses: [{ status: 200, description: "The queue's new state.", schema: ref("QueueState") }],
    errors: ["InvalidField"],
    async handle(ctx) {
      await noBody(ctx.request);
      const name = checkQueueName("name", ctx.params.name ?? "");
      if (action === "pause") await ctx.broker.pause(name);
      else await ctx.broker.resume(name);
      return { body: { name, paused: ctx.broker.isPaused(name) } };
    },
  };
}

function workerAction(command: Exclude<WorkerCommand, "none">): Route {
  return {
    method: "POST",
    path: `/api/v1/workers/{id}/${command}`,
    operation: "manage",
    operationId: `${command}Worker`,
    summary:
      command === "quiet"
        ? "Ask a worker to stop claiming and finish what it runs (told in its next heartbeat reply). In a cluster any broker takes it: one the worker is not connected to passes it on (202)."
        : "Ask a worker to finish what it runs and exit (told in its next heartbeat reply). In a cluster any broker takes it: one the worker is not connected to passes it on (202).",
    tag: "workers",
    pathParams: { id: "Worker id." },
    responses: [
      { status: 200, description: "The worker (connected to this broker) with its pending command.", schema: ref("Worker") },
      {
        status: 202,
        description: "The worker is connected to another broker of the cluster, which was passed the command and applies it on receipt (milliseconds); node_id names it.",
        schema: ref("ForwardedWorkerCommand"),
      },
    ],
    errors: ["NotFound"],
    async handle(ctx: RouteContext) {
      await noBody(ctx.request);
      const id = ctx.params.id ?? "";
      const done = await ctx.broker.commandWorker(id, command);
      if ("worker" in done) return { body: workerJson(done.worker) };
      return { status: 202, body: { id, command, node_id: done.forwardedTo, forwarded: true } };
    },
  };
}

/** The tasks a worker holds leases on now, from the store's leases. */
async function runningOf(ctx: RouteContext, workerId: string, count: number): Promise<WorkerRunning> {
  if (count === 0) return { tasks: [], count };
  const page = await ctx.broker.list({ status: "in_progress", workerId, limit: MAX_RUNNING_SHOWN });
  return { tasks: page.tasks, count: Math.max(count, page.tasks.length) };
}

export const ADMIN_ROUTES: readonly Route[] = [
  {
    method: "GET",
    path: "/api/v1/queues",
    operation: "stats",
    operationId: "listQueues",
    summary: "Every queue with tasks or paused: ready tasks per priority tier, scheduled (and of those retrying), in progress, finished counts from the store, oldest ready task's age, throughput and failure rate over the last 5 minutes, paused.",
    tag: "queues",
    responses: [{ status: 200, description: "Queues by name.", schema: ref("QueueList") }],
    errors: [],
    async handle(ctx) {
      const queues = queuesJson(await ctx.broker.stats(), ctx.server.now()).map((q) => {
        const r = ctx.broker.activity.queueRates(String(q.name));
        return { ...q, completed_per_min: r.completedPerMin, failed_per_min: r.failedPerMin, failure_rate: r.failureRate };
      });
      return { body: { queues } };
    },
  },
  queueAction("pause"),
  queueAction("resume"),
  {
    method: "GET",
    path: "/api/v1/workers",
    operation: "workers",
    operationId: "listWorkers",
    summary: "Workers the broker knows (dead ones until forgotten): identity, address, queues, load, last heartbeat, pending command, and the tasks each holds leases on now; recently_dead: those that died in the last hour and were forgotten since.",
    tag: "workers",
    responses: [{ status: 200, description: "Workers.", schema: ref("WorkerList") }],
    errors: [],
    async handle(ctx) {
      const running = await ctx.broker.runningByWorker();
      const workers = await Promise.all(ctx.broker.workers.list().map(async (w) => workerJson(w, await runningOf(ctx, w.id, running.get(w.id) ?? 0))));
      const recentlyDead = ctx.broker.workers.recentlyDead(ctx.server.now()).map((w) => workerJson(w));
      return { body: { workers, recently_dead: recentlyDead } };
    },
  },
  workerAction("quiet"),
  workerAction("shutdown"),
  {
    method: "GET",
    path: "/api/v1/stats",
    operation: "stats",
    operationId: "getStats",
    summary: "Broker-wide counts and counters since start.",
    tag: "stats",
    responses: [{ status: 200, description: "Stats.", schema: ref("Stats") }],
    errors: [],
    async handle(ctx) {
      return { body: statsJson(await ctx.broker.stats(), ctx.server.now()) };
    },
  },
];
