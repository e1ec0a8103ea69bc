// REST routes on tasks: submit (one or a batch), read, wait for the result, cancel, retry, list.
// Each handler only translates JSON <-> one Broker call; every queue rule is the broker's.

import { MAX_LIST_LIMIT } from "../protocol/limits.ts";
import { ref } from "./api-schemas.ts";
import { invalidField } from "./http-error.ts";
import { enumParam, FILTER_PARAMS, filterParams, intParam, readJson, stringParam, taskIdParam } from "./request-input.ts";
import type { Route } from "./route.ts";
import { inJsonNames, parseSubmitBody, submitOutcomeJson, taskJson } from "./task-json.ts";

/** Default page size of GET /api/v1/tasks. */
export const DEFAULT_LIST_LIMIT = 100;
/** Longest GET .../result may hold a request open; clients re-ask after (proxies time out idle requests near a minute). */
export const MAX_HTTP_WAIT_MS = 60_000;

const ID_PARAM = { id: "Task id (UUIDv7)." };

export const TASK_ROUTES: readonly Route[] = [
  {
    method: "POST",
    path: "/api/v1/tasks",
    operation: "submit",
    operationId: "submitTasks",
    summary: "Submit one task, or a batch as {tasks: [...]} (all or none).",
    tag: "tasks",
    requestBody: { oneOf: [ref("SubmitTask"), ref("SubmitBatch")] },
    responses: [
      { status: 201, description: "Accepted and durable. A batch answers {tasks: [outcome...]} in request order.", schema: { oneOf: [ref("SubmitOutcome"), ref("SubmitBatchOutcome")] } },
      { status: 200, description: "Every task was an idempotent duplicate: the existing ids are returned.", schema: { oneOf: [ref("SubmitOutcome"), ref("SubmitBatchOutcome")] } },
    ],
    errors: ["InvalidField", "QueueFull", "StorageUnavailable", "ShuttingDown"],
    async handle(ctx) {
      const { specs, batch } = parseSubmitBody(await readJson(ctx.request));
      const outcomes = await ctx.broker.submit(specs).catch((err: unknown) => {
        throw inJsonNames(err);
      });
      const status = outcomes.every((o) => o.duplicate) ? 200 : 201;
      return { status, body: batch ? { tasks: outcomes.map(submitOutcomeJson) } : submitOutcomeJson(outcomes[0]!) };
    },
  },
  {
    method: "GET",
    path: "/api/v1/tasks",
    operation: "list",
    operationId: "listTasks",
    summary: "List tasks oldest or newest first, filtered, a page at a time (payloads left out; read a task for them).",
    tag: "tasks",
    queryParams: [
      ...FILTER_PARAMS,
      { name: "order", description: "oldest (default) or newest first: finished tasks by finish time, others by submission.", schema: { type: "string", enum: ["oldest", "newest"] } },
      { name: "limit", description: `Page size, 1-${MAX_LIST_LIMIT}.`, schema: { type: "integer", minimum: 1, maximum: MAX_LIST_LIMIT, default: DEFAULT_LIST_LIMIT } },
      { name: "cursor", description: "next_cursor of the previous page.", schema: { type: "string" } },
    ],
    responses: [{ status: 200, description: "One page. A page may hold fewer than limit tasks (even none) and still have a next_cursor: each page reads a bounded part of the table.", schema: ref("TaskPage") }],
    errors: ["InvalidField"],
    async handle(ctx) {
      const q = ctx.query;
      const page = await ctx.broker.list({
        ...filterParams(q, ctx.server.now()),
        order: enumParam(q, "order", ["oldest", "newest"] as const),
        limit: intParam(q, "limit", 1, MAX_LIST_LIMIT, DEFAULT_LIST_LIMIT),
        cursor: stringParam(q, "cursor"),
      });
      return { body: { tasks: page.tasks.map((t) => taskJson(t, { bodies: false })), next_cursor: page.nextCursor } };
    },
  },
  {
    method: "GET",
    path: "/api/v1/tasks/{id}",
    operation: "status",
    operationId: "getTask",
    summary: "One task with its payload and result (JSON when submitted as JSON, else base64).",
    tag: "tasks",
    pathParams: ID_PARAM,
    responses: [{ status: 200, description: "The task.", schema: ref("Task") }],
    errors: ["InvalidField", "NotFound"],
    async handle(ctx) {
      return { body: taskJson(await ctx.broker.get(taskIdParam(ctx.params))) };
    },
  },
  {
    method: "GET",
    path: "/api/v1/tasks/{id}/result",
    operation: "result",
    operationId: "waitTaskResult",
    summary: "The task once completed, dead or cancelled; waits up to wait_ms for that, then answers with the task as it is.",
    tag: "tasks",
    pathParams: ID_PARAM,
    queryParams: [
      { name: "wait_ms", description: `How long to wait for a finished state, 0-${MAX_HTTP_WAIT_MS}.`, schema: { type: "integer", minimum: 0, maximum: MAX_HTTP_WAIT_MS, default: 0 } },
    ],
    responses: [{ status: 200, description: "The task; check status to see whether it finished.", schema: ref("Task") }],
    errors: ["InvalidField", "NotFound"],
    async handle(ctx) {
      const id = taskIdParam(ctx.params);
      const waitMs = intParam(ctx.query, "wait_ms", 0, MAX_HTTP_WAIT_MS, 0);
      return { body: taskJson(await ctx.broker.waitResult(id, waitMs, ctx.request.signal)) };
    },
  },
  {
    method: "DELETE",
    path: "/api/v1/tasks/{id}",
    operation: "cancel",
    operationId: "cancelTask",
    summary: "Cancel a pending, scheduled, failed (awaiting retry) or running task; a running task's worker is told to stop.",
    tag: "tasks",
    pathParams: ID_PARAM,
    responses: [{ status: 200, description: "The cancelled task.", schema: ref("Task") }],
    errors: ["InvalidField", "NotFound", "InvalidState", "StorageUnavailable", "ShuttingDown"],
    async handle(ctx) {
      return { body: taskJson(await ctx.broker.cancel(taskIdParam(ctx.params))) };
    },
  },
  {
    method: "POST",
    path: "/api/v1/tasks/{id}/retry",
    operation: "retry",
    operationId: "retryTask",
    summary: "Run a dead or cancelled task again: pending, attempts reset.",
    tag: "tasks",
    pathParams: ID_PARAM,
    responses: [{ status: 200, description: "The task, pending again.", schema: ref("Task") }],
    errors: ["InvalidField", "NotFound", "InvalidState", "StorageUnavailable", "ShuttingDown"],
    async handle(ctx) {
      await noBody(ctx.request);
      return { body: taskJson(await ctx.broker.retry(taskIdParam(ctx.params))) };
    },
  },
];

/** Action routes take no body; one sent anyway is refused rather than silently ignored. */
export async function noBody(request: Request): Promise<void> {
  const text = await request.text();
  if (text.trim() !== "" && text.trim() !== "{}") throw invalidField("body", "this action takes no body");
}
