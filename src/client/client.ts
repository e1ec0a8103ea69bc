// Client: the producer/admin SDK. Turns method calls into protocol requests over one
// RequestChannel and answers into plain values and typed errors. Imports only protocol/ and its
// own folder; holds no connection logic (request-channel.ts) and no worker logic (worker.ts).

import { ErrorCode } from "../protocol/errors.ts";
import { MAX_BATCH_SUBMIT, MAX_CLAIM_WAIT_MS, MAX_FRAME_BYTES, MAX_LIST_LIMIT } from "../protocol/limits.ts";
import type { HelloOkResponse, Response, ResponseOf, TaskInfo, TaskSpec } from "../protocol/messages.ts";
import { resolveClientOptions, type ClientOptions } from "./client-options.ts";
import { RequestChannel, unexpected, type RequestBody, type RequestOptions } from "./request-channel.ts";
import { approxSpecBytes, toTaskSpec, type SubmitItem, type SubmitOptions } from "./submit-options.ts";
import { FINISHED_TASK_STATUSES, toTask, type Task, type TaskStatus } from "./task-view.ts";
import { InvalidFieldError, TaskFailedError, TimeoutError } from "./tq-error.ts";

export interface SubmitResult {
  id: string;
  status: TaskStatus;
  /** An idempotency key matched an earlier task: `id` is that task's and nothing new was created. */
  duplicate: boolean;
}

export interface ResultOptions {
  /** How long to wait for the task to finish, ms. Default 30000. */
  wait?: number;
}

export interface ListTasksOptions {
  status?: TaskStatus;
  queue?: string;
  type?: string;
  /** 1-1000. Default 100. */
  limit?: number;
  /** nextCursor of the previous page (of the same order). */
  cursor?: string;
  /** "oldest" (default) or "newest" first: finished tasks by finish time, the others by submission. */
  order?: "oldest" | "newest";
}

export interface TaskPage {
  tasks: Task[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

const DEFAULT_RESULT_WAIT_MS = 30_000;
/** Room left in a batch frame for the header and per-task framing the estimate does not count. */
const BATCH_FRAME_BUDGET_BYTES = MAX_FRAME_BYTES - 64 * 1024;

export class Client {
  /** The link to the broker; the Worker runtime sends its own requests through it. */
  readonly channel: RequestChannel;

  constructor(options: ClientOptions = {}) {
    this.channel = new RequestChannel(resolveClientOptions(options));
  }

  /** Connects and says Hello now rather than on the first request. */
  connect(): Promise<HelloOkResponse> {
    return this.channel.connect();
  }

  /** Sends a raw protocol request and returns the raw answer (an Error frame becomes a typed error). */
  request(body: RequestBody, options?: RequestOptions): Promise<Response> {
    return this.channel.request(body, options);
  }

  async submit(type: string, payload?: unknown, options: SubmitOptions = {}): Promise<SubmitResult> {
    const task = toTaskSpec(type, payload, options, Date.now());
    const res = await this.call({ kind: "SubmitTask", task }, "Submitted", { idempotent: task.idempotencyKey !== undefined });
    return { id: res.id, status: res.status, duplicate: res.duplicate };
  }

  /** Submits many tasks in as few round trips as the frame and batch limits allow; outcomes in input order. */
  async submitMany(items: readonly SubmitItem[]): Promise<SubmitResult[]> {
    const nowMs = Date.now();
    const specs = items.map((item, i) => {
      try {
        return toTaskSpec(item.type, item.payload, item, nowMs);
      } catch (err) {
        if (err instanceof InvalidFieldError) {
          throw new InvalidFieldError(ErrorCode.InvalidField, `tasks[${i}].${err.message}`, { field: `tasks[${i}].${err.field ?? ""}` });
        }
        throw err;
      }
    });
    const chunks = chunkSpecs(specs);
    const answers = await Promise.all(
      chunks.map((tasks) =>
        this.call({ kind: "SubmitBatch", tasks }, "SubmittedBatch", { idempotent: tasks.every((t) => t.idempotencyKey !== undefined) }),
      ),
    );
    return answers.flatMap((a) => a.outcomes.map((o) => ({ id: o.id, status: o.status, duplicate: o.duplicate })));
  }

  async status(id: string): Promise<Task> {
    return toTask((await this.call({ kind: "QueryStatus", id }, "TaskInfo", { idempotent: true })).task);
  }

  /** Cancels a pending, scheduled, failed (awaiting retry) or running task; returns it as cancelled. A running task's worker is told to stop. */
  async cancel(id: string): Promise<Task> {
    return toTask((await this.call({ kind: "CancelTask", id }, "TaskInfo")).task);
  }

  /** Runs a dead or cancelled task again (attempts reset); returns it as pending. */
  async retry(id: string): Promise<Task> {
    return toTask((await this.call({ kind: "RetryTask", id }, "TaskInfo")).task);
  }

  /**
   * Waits for the task to finish and returns its result (parsed JSON, bytes, or null). The
   * broker holds the request until the task finishes (no polling); long waits are re-issued.
   * Throws TaskFailedError when it ends dead or cancelled, TimeoutError when `wait` runs out.
   */
  async result<R = unknown>(id: string, options: ResultOptions = {}): Promise<R | null> {
    const waitMs = options.wait ?? DEFAULT_RESULT_WAIT_MS;
    const deadlineMs = Date.now() + waitMs;
    // Bounded: each round waits up to the time left, so the loop ends at the deadline.
    for (;;) {
      const leftMs = Math.max(0, Math.round(deadlineMs - Date.now()));
      const askMs = Math.min(leftMs, MAX_CLAIM_WAIT_MS);
      const res = await this.call({ kind: "WaitResult", id, waitMs: askMs }, "TaskInfo", {
        idempotent: true,
        timeoutMs: askMs + this.channel.options.requestTimeoutMs,
      });
      const info = res.task;
      if (FINISHED_TASK_STATUSES.includes(info.status)) return finishedResult<R>(info);
      if (askMs === 0 || Date.now() >= deadlineMs) {
        throw new TimeoutError(ErrorCode.Timeout, `task ${id} is still ${info.status} after waiting ${waitMs} ms`);
      }
    }
  }

  /** Broker statistics (task counts by status, workers, totals) as the broker reports them. */
  async stats(): Promise<Record<string, unknown>> {
    return JSON.parse((await this.call({ kind: "GetStats" }, "Stats", { idempotent: true })).json) as Record<string, unknown>;
  }

  /** Registered workers as the broker reports them. */
  async workers(): Promise<Array<Record<string, unknown>>> {
    return JSON.parse((await this.call({ kind: "ListWorkers" }, "Workers", { idempotent: true })).json) as Array<Record<string, unknown>>;
  }

  async listTasks(options: ListTasksOptions = {}): Promise<TaskPage> {
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new InvalidFieldError(ErrorCode.InvalidField, `limit: expected 1-${MAX_LIST_LIMIT}, got ${limit}`, { field: "limit" });
    }
    const body: RequestBody = { kind: "ListTasks", limit };
    if (options.status !== undefined) body.status = options.status;
    if (options.queue !== undefined) body.queue = options.queue;
    if (options.type !== undefined) body.type = options.type;
    if (options.cursor !== undefined) body.cursor = options.cursor;
    if (options.order !== undefined) body.order = options.order;
    const res = await this.call(body, "TaskList", { idempotent: true });
    return { tasks: res.tasks.map(toTask), nextCursor: res.nextCursor };
  }

  async ping(): Promise<void> {
    await this.call({ kind: "Ping" }, "Pong", { idempotent: true });
  }

  /** Fails anything still waiting with ClientClosedError and closes the connection. */
  close(): Promise<void> {
    return this.channel.close();
  }

  /** One request whose answer must be of kind `expected`. */
  async call<K extends Response["kind"]>(body: RequestBody, expected: K, options?: RequestOptions): Promise<ResponseOf<K>> {
    const res = await this.channel.request(body, options);
    if (res.kind !== expected) throw unexpected(body.kind, res);
    return res as ResponseOf<K>;
  }
}

function finishedResult<R>(info: TaskInfo): R | null {
  const task = toTask(info);
  if (task.status === "completed") return task.result as R | null;
  const why = task.error === null ? "" : `: ${task.error.split("\n", 1)[0]}`;
  throw new TaskFailedError(`task ${task.id} ended ${task.status}${why}`, task.status, task);
}

/** Cuts specs into batches under both the count and the frame-size limit, keeping order. */
export function chunkSpecs(specs: readonly TaskSpec[], maxBytes = BATCH_FRAME_BUDGET_BYTES, maxCount = MAX_BATCH_SUBMIT): TaskSpec[][] {
  const chunks: TaskSpec[][] = [];
  let current: TaskSpec[] = [];
  let bytes = 0;
  for (const spec of specs) {
    const size = approxSpecBytes(spec);
    if (current.length > 0 && (current.length >= maxCount || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(spec);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
