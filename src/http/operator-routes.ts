// REST routes for the operator's daily work (issue 24): a task's page and its raw bodies, delete,
// bulk actions by filter, purging a queue, the last hour of activity and the live event stream.
// Each handler translates to Broker calls (and bulk-actions.ts, task-explain.ts) and renders.

import { BULK_ACTIONS, countBulk, MAX_BULK_PER_CALL, runBulk, type BulkAction, type BulkOutcome } from "../broker/bulk-actions.ts";
import { checkQueueName } from "../broker/submit-spec.ts";
import { explainTask } from "../broker/task-explain.ts";
import { ACTIVITY_SLOT_MS } from "../broker/activity.ts";
import { TASK_STATUSES, type TaskStatus } from "../rules/task.ts";
import type { TaskFilter } from "../broker/broker-types.ts";
import { ref } from "./api-schemas.ts";
import { invalidField } from "./http-error.ts";
import { readJson, taskIdParam } from "./request-input.ts";
import type { Route, RouteContext } from "./route.ts";
import { taskJson } from "./task-json.ts";
import { inspectJson } from "./task-view.ts";
import { overviewJson } from "./live-events.ts";

const ID_PARAM = { id: "Task id (UUIDv7)." };
/** Statuses a purge deletes: what waits in the queue (running tasks finish; finished ones are history). */
const PURGED: readonly TaskStatus[] = ["pending", "scheduled", "failed"];
const MAX_AGE_MS = 10 * 365 * 86_400_000;

type Body = Record<string, unknown>;

function optionalBody(value: unknown): Body {
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw invalidField("body", "expected a JSON object");
  return value as Body;
}

async function bodyOf(request: Request): Promise<Body> {
  const text = await request.clone().text();
  return text.trim() === "" ? {} : optionalBody(await readJson(request));
}

function only(body: Body, allowed: readonly string[]): void {
  for (const key of Object.keys(body)) if (!allowed.includes(key)) throw invalidField(key, `unknown field; this body takes ${allowed.join(", ")}`);
}

function str(body: Body, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || v === "") throw invalidField(key, `expected a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function int(body: Body, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw invalidField(key, `expected an integer ${min}-${max}, got ${JSON.stringify(v)}`);
  return v;
}

function bool(body: Body, key: string): boolean {
  const v = body[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw invalidField(key, `expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

const BULK_FIELDS = ["action", "status", "queue", "type", "worker_id", "older_than_ms", "dry_run", "max"] as const;

/** A bulk body: the action, the filter (status required), dry_run, max. */
function parseBulk(body: Body, nowMs: number): { action: BulkAction; filter: TaskFilter; dryRun: boolean; max: number } {
  only(body, BULK_FIELDS);
  const action = str(body, "action");
  if (action === undefined || !(BULK_ACTIONS as readonly string[]).includes(action)) {
    throw invalidField("action", `expected one of ${BULK_ACTIONS.join(", ")}, got ${JSON.stringify(body.action ?? null)}`);
  }
  const filter: TaskFilter = {};
  const status = str(body, "status");
  if (status !== undefined) {
    if (!(TASK_STATUSES as readonly string[]).includes(status)) throw invalidField("status", `expected one of ${TASK_STATUSES.join(", ")}, got ${JSON.stringify(status)}`);
    filter.status = status as TaskStatus;
  }
  const queue = str(body, "queue");
  if (queue !== undefined) filter.queue = checkQueueName("queue", queue);
  const type = str(body, "type");
  if (type !== undefined) filter.type = type;
  const worker = str(body, "worker_id");
  if (worker !== undefined) filter.workerId = worker;
  const age = int(body, "older_than_ms", 0, MAX_AGE_MS);
  if (age !== undefined) filter.updatedBeforeMs = nowMs - age;
  return { action: action as BulkAction, filter, dryRun: bool(body, "dry_run"), max: int(body, "max", 1, MAX_BULK_PER_CALL) ?? MAX_BULK_PER_CALL };
}

function bulkJson(o: BulkOutcome): Record<string, unknown> {
  return { action: o.action, matched: o.matched, changed: o.changed, skipped: o.skipped, done: o.done };
}

function rawPart(ctx: RouteContext): "payload" | "result" {
  const part = ctx.params.part ?? "";
  if (part !== "payload" && part !== "result") throw invalidField("part", `expected payload or result, got ${JSON.stringify(part)}`);
  return part;
}

export const OPERATOR_ROUTES: readonly Route[] = [
  {
    method: "GET",
    path: "/api/v1/whoami",
    operation: "status",
    operationId: "whoami",
    summary: "The calling key's name and role (the dashboard shows actions only to roles that may take them).",
    tag: "meta",
    responses: [{ status: 200, description: "Who calls.", schema: ref("Principal") }],
    errors: [],
    handle(ctx) {
      return { body: { name: ctx.principal?.name ?? "anonymous", role: ctx.principal?.role ?? "admin" } };
    },
  },
  {
    method: "GET",
    path: "/api/v1/overview",
    operation: "stats",
    operationId: "getOverview",
    summary: "What the event stream's overview event carries, once: stats, queues with their rates, worker states, the latest activity slot.",
    tag: "stats",
    responses: [{ status: 200, description: "The overview.", schema: ref("Overview") }],
    errors: [],
    async handle(ctx) {
      return { body: await overviewJson(ctx.broker, ctx.server.now()) };
    },
  },
  {
    method: "GET",
    path: "/api/v1/tasks/{id}/inspect",
    operation: "status",
    operationId: "inspectTask",
    summary: "A task's page: payload and result for a person (large ones cut, with a download), every run, the lease and worker if running, a timeline, and why it is not running when it waits.",
    tag: "tasks",
    pathParams: ID_PARAM,
    responses: [{ status: 200, description: "The task's page.", schema: ref("TaskInspection") }],
    errors: ["InvalidField", "NotFound"],
    async handle(ctx) {
      const id = taskIdParam(ctx.params);
      const task = await ctx.broker.get(id);
      const nowMs = ctx.server.now();
      const [runs, waiting] = await Promise.all([ctx.broker.runs(id), explainTask(ctx.broker, task, nowMs)]);
      const worker = task.status === "in_progress" && task.workerId !== null ? (ctx.broker.workers.get(task.workerId) ?? null) : null;
      return { body: inspectJson({ task, runs, waiting, worker, nowMs }) };
    },
  },
  {
    method: "GET",
    path: "/api/v1/tasks/{id}/raw/{part}",
    operation: "status",
    operationId: "downloadTaskBody",
    summary: "The whole payload or result as bytes (application/json when submitted as JSON), as an attachment.",
    tag: "tasks",
    pathParams: { ...ID_PARAM, part: "payload or result." },
    responses: [{ status: 200, description: "The bytes.", contentType: "application/octet-stream", schema: { type: "string", format: "binary" } }],
    errors: ["InvalidField", "NotFound"],
    async handle(ctx) {
      const part = rawPart(ctx);
      const task = await ctx.broker.get(taskIdParam(ctx.params));
      const bytes = part === "payload" ? task.payload : task.result;
      if (bytes === null) throw invalidField("part", `task ${task.id} has no result (it is ${task.status})`);
      const json = part === "payload" ? task.payloadIsJson : task.resultIsJson;
      return new Response(bytes, {
        headers: {
          "content-type": json ? "application/json" : "application/octet-stream",
          "content-disposition": `attachment; filename="${task.id}-${part}.${json ? "json" : "bin"}"`,
          "cache-control": "no-store",
          "x-content-type-options": "nosniff",
        },
      });
    },
  },
  {
    method: "POST",
    path: "/api/v1/tasks/{id}/delete",
    operation: "delete",
    operationId: "deleteTask",
    summary: "Delete a task that is not running (pending, scheduled, failed or finished), with its run history. A running task is 409: cancel it first.",
    tag: "tasks",
    pathParams: ID_PARAM,
    responses: [{ status: 200, description: "The task as it was before it was deleted.", schema: ref("TaskSummary") }],
    errors: ["InvalidField", "NotFound", "InvalidState", "StorageUnavailable", "ShuttingDown"],
    async handle(ctx) {
      const text = (await ctx.request.text()).trim();
      if (text !== "" && text !== "{}") throw invalidField("body", "this action takes no body");
      return { body: taskJson(await ctx.broker.delete(taskIdParam(ctx.params)), { bodies: false }) };
    },
  },
  {
    method: "POST",
    path: "/api/v1/tasks/bulk",
    operation: "manage",
    operationId: "bulkTasks",
    summary:
      `Retry, cancel or delete every task a filter matches (status required). dry_run: true only counts. One call acts on at most max (default and limit ${MAX_BULK_PER_CALL}) tasks, oldest first; call again until done.`,
    tag: "tasks",
    requestBody: ref("BulkRequest"),
    responses: [{ status: 200, description: "What the call did (dry_run: matched only, changed 0).", schema: ref("BulkOutcome") }],
    errors: ["InvalidField", "StorageUnavailable", "ShuttingDown"],
    async handle(ctx) {
      const { action, filter, dryRun, max } = parseBulk(await bodyOf(ctx.request), ctx.server.now());
      if (dryRun) {
        const matched = await countBulk(ctx.broker, action, filter);
        return { body: { action, matched, changed: 0, skipped: 0, done: matched === 0 } };
      }
      return { body: bulkJson(await runBulk(ctx.broker, action, filter, max)) };
    },
  },
  {
    method: "POST",
    path: "/api/v1/queues/{name}/purge",
    operation: "manage",
    operationId: "purgeQueue",
    summary: `Delete every waiting task of a queue (pending, scheduled, failed awaiting retry); running tasks finish. dry_run: true only counts. At most max (default and limit ${MAX_BULK_PER_CALL}) per call; call again until done.`,
    tag: "queues",
    pathParams: { name: "Queue name." },
    requestBody: ref("PurgeRequest"),
    responses: [{ status: 200, description: "What the call did.", schema: ref("BulkOutcome") }],
    errors: ["InvalidField", "StorageUnavailable", "ShuttingDown"],
    async handle(ctx) {
      const queue = checkQueueName("name", ctx.params.name ?? "");
      const body = await bodyOf(ctx.request);
      only(body, ["dry_run", "max"]);
      let matched = 0;
      for (const status of PURGED) matched += await ctx.broker.count({ status, queue });
      if (bool(body, "dry_run")) return { body: { action: "delete", matched, changed: 0, skipped: 0, done: matched === 0 } };
      let left = int(body, "max", 1, MAX_BULK_PER_CALL) ?? MAX_BULK_PER_CALL;
      let changed = 0;
      let skipped = 0;
      let done = true;
      for (const status of PURGED) {
        if (left <= 0) {
          done = false;
          break;
        }
        const step = await runBulk(ctx.broker, "delete", { status, queue }, left);
        changed += step.changed;
        skipped += step.skipped;
        left -= step.changed + step.skipped;
        done &&= step.done;
      }
      return { body: { action: "delete", matched, changed, skipped, done } };
    },
  },
  {
    method: "GET",
    path: "/api/v1/activity",
    operation: "stats",
    operationId: "getActivity",
    summary: `The last hour in ${ACTIVITY_SLOT_MS / 1000} s slots: tasks submitted, completed and failed in each, and the queue depth sampled in each (null before the first sample). Kept in memory: a restart starts it empty.`,
    tag: "stats",
    responses: [{ status: 200, description: "Slots, oldest first.", schema: ref("Activity") }],
    errors: [],
    handle(ctx) {
      const points = ctx.broker.activity.series().map((p) => ({
        at_ms: p.atMs, submitted: p.submitted, completed: p.completed, failed: p.failed, pending: p.pending, scheduled: p.scheduled, in_progress: p.inProgress,
      }));
      return { body: { slot_ms: ACTIVITY_SLOT_MS, points } };
    },
  },
  {
    method: "GET",
    path: "/api/v1/events",
    operation: "stats",
    operationId: "streamEvents",
    summary: "Server-Sent Events: an `overview` event (stats, queues with rates, workers, the latest activity slot) at once and whenever it changes, checked every second; a comment line at least every 15 s.",
    tag: "stats",
    responses: [{ status: 200, description: "An event stream.", contentType: "text/event-stream", schema: { type: "string" } }],
    errors: ["TooManyConnections", "ShuttingDown"],
    handle(ctx) {
      ctx.keepOpen();
      return ctx.server.live.open(ctx.request.signal);
    },
  },
];
