// JSON Schemas of the REST API's bodies, referenced by the route table and emitted under
// components.schemas in the OpenAPI document. Descriptions only: the handlers' shapes are in
// task-json.ts and admin-json.ts, and a test checks real replies against these.

import { ERRORS, ErrorCode } from "../protocol/errors.ts";
import { MAX_PRIORITY, MIN_PRIORITY } from "../protocol/limits.ts";
import { TASK_STATUSES } from "../rules/task.ts";
import { WORKER_COMMANDS } from "../protocol/wire-values.ts";
import { WORKER_STATUSES } from "../workers/registry.ts";
import { SUBMIT_FIELDS } from "./task-json.ts";
import { RUN_OUTCOMES } from "../rules/task.ts";
import { WAIT_REASONS } from "../broker/task-explain.ts";
import { BULK_ACTIONS, MAX_BULK_PER_CALL } from "../broker/bulk-actions.ts";
import { MAX_HEX_BYTES, MAX_SHOWN_CHARS } from "./task-view.ts";
import { MAX_RUNNING_SHOWN } from "./admin-json.ts";
import type { JsonSchema } from "./route.ts";

export function ref(name: keyof typeof SCHEMAS): JsonSchema {
  return { $ref: `#/components/schemas/${name}` };
}

const int = { type: "integer" } as const;
const nullableInt = { type: ["integer", "null"] } as const;
const nullableString = { type: ["string", "null"] } as const;
const tiers = { type: "object", required: ["high", "normal", "low"], properties: { high: int, normal: int, low: int } } as const;

const submitTask: JsonSchema = {
  type: "object",
  required: ["type"],
  additionalProperties: false,
  properties: {
    type: { type: "string", description: "What to run; workers dispatch on it." },
    queue: { type: "string", pattern: "^[A-Za-z0-9_.:-]{1,128}$", default: "default" },
    payload: { description: "Any JSON value; stored as UTF-8 JSON and shown back as JSON." },
    payload_base64: { type: "string", contentEncoding: "base64", description: "Opaque bytes instead of payload." },
    priority: {
      oneOf: [
        { type: "integer", minimum: MIN_PRIORITY, maximum: MAX_PRIORITY },
        { type: "string", enum: ["high", "normal", "low"] },
      ],
      description: "Higher runs first. Tiers: high 200-255 (255), normal 100-199 (150, default), low 0-99 (50).",
    },
    run_at_ms: { type: "integer", description: "Epoch ms before which the task is not claimable." },
    delay_ms: { type: "integer", minimum: 0, description: "Alternative to run_at_ms: ms from now." },
    max_retries: { type: "integer", minimum: 0, maximum: 1000 },
    lease_ms: { type: "integer", minimum: 100, description: "Lease granted to each claim." },
    idempotency_key: { type: "string", maxLength: 255, description: "A second submit with the same key returns the first task." },
  },
};
if (Object.keys(submitTask.properties as object).join() !== SUBMIT_FIELDS.join()) {
  throw new Error("api-schemas: SubmitTask properties differ from task-json SUBMIT_FIELDS");
}

const taskSummaryProperties = {
  id: { type: "string", format: "uuid" },
  type: { type: "string" },
  queue: { type: "string" },
  status: { type: "string", enum: [...TASK_STATUSES] },
  priority: int,
  priority_tier: { type: "string", enum: ["high", "normal", "low"] },
  attempts: int,
  max_retries: int,
  lease_ms: int,
  run_at_ms: nullableInt,
  created_at_ms: int,
  updated_at_ms: int,
  started_at_ms: nullableInt,
  finished_at_ms: nullableInt,
  lease_expires_at_ms: nullableInt,
  worker_id: nullableString,
  idempotency_key: nullableString,
  error: nullableString,
  payload_is_json: { type: "boolean" },
  payload_bytes: int,
  result_is_json: { type: "boolean" },
  result_bytes: nullableInt,
} as const;

export const SCHEMAS = {
  Error: {
    type: "object",
    required: ["error"],
    properties: {
      error: {
        type: "object",
        required: ["code", "name", "message", "field", "retry_after_ms"],
        properties: {
          code: { type: "integer", enum: Object.values(ErrorCode), description: "Stable code from the protocol's error table." },
          name: { type: "string", enum: Object.values(ERRORS).map((e) => e.name) },
          message: { type: "string", description: "Names what was wrong and the value; for people, not for parsing." },
          field: { ...nullableString, description: "The request field at fault, e.g. tasks[2].priority." },
          retry_after_ms: { ...nullableInt, description: "For retryable errors: wait this long before trying again." },
        },
      },
    },
  },
  SubmitTask: submitTask,
  SubmitBatch: {
    type: "object",
    required: ["tasks"],
    additionalProperties: false,
    properties: { tasks: { type: "array", items: { $ref: "#/components/schemas/SubmitTask" }, minItems: 1, maxItems: 10_000 } },
  },
  SubmitOutcome: {
    type: "object",
    required: ["id", "status", "duplicate"],
    properties: { id: { type: "string", format: "uuid" }, status: { type: "string", enum: [...TASK_STATUSES] }, duplicate: { type: "boolean" } },
  },
  SubmitBatchOutcome: {
    type: "object",
    required: ["tasks"],
    properties: { tasks: { type: "array", items: { $ref: "#/components/schemas/SubmitOutcome" } } },
  },
  TaskSummary: { type: "object", required: Object.keys(taskSummaryProperties), properties: taskSummaryProperties },
  Task: {
    type: "object",
    required: Object.keys(taskSummaryProperties),
    properties: {
      ...taskSummaryProperties,
      payload: { description: "Present when payload_is_json: the payload as JSON." },
      payload_base64: { type: "string", description: "Present otherwise: the payload bytes." },
      result: { description: "Present when result_is_json (null before completion)." },
      result_base64: { type: "string", description: "Present for opaque results." },
    },
  },
  TaskPage: {
    type: "object",
    required: ["tasks", "next_cursor"],
    properties: {
      tasks: { type: "array", items: { $ref: "#/components/schemas/TaskSummary" } },
      next_cursor: { ...nullableString, description: "Pass as cursor for the next page; null on the last page." },
    },
  },
  Queue: {
    type: "object",
    required: ["name", "pending", "pending_total", "scheduled", "in_progress", "oldest_ready_age_ms", "paused"],
    properties: {
      name: { type: "string" },
      pending: { ...tiers, description: "Ready tasks by priority tier." },
      pending_total: int,
      scheduled: { type: "integer", description: "Waiting for run_at or a retry's backoff." },
      in_progress: int,
      oldest_ready_age_ms: { ...nullableInt, description: "How long the oldest ready task has waited; null when none is ready." },
      paused: { type: "boolean" },
      retrying: { type: "integer", description: "Of scheduled: failed tasks waiting for their retry." },
      completed: { type: "integer", description: "Completed tasks the store holds (until retention purges them); survives restarts." },
      dead: int,
      cancelled: int,
      completed_per_min: { type: "number", description: "Over the last 5 minutes (GET /api/v1/queues, events)." },
      failed_per_min: { type: "number" },
      failure_rate: { type: ["number", "null"], description: "failed / (completed + failed) runs over the last 5 minutes; null when none ran." },
    },
  },
  TaskInspection: {
    type: "object",
    required: ["task", "payload", "result", "runs", "lease", "waiting", "timeline"],
    properties: {
      task: { $ref: "#/components/schemas/TaskSummary" },
      payload: { $ref: "#/components/schemas/BodyView" },
      result: { oneOf: [{ $ref: "#/components/schemas/BodyView" }, { type: "null" }] },
      runs: {
        type: "array",
        description: "Runs that ended, oldest first: failed, dead, lease_expired, worker_lost, cancelled, completed. Hand-backs are not runs.",
        items: {
          type: "object",
          required: ["worker_id", "started_at_ms", "ended_at_ms", "duration_ms", "outcome", "error"],
          properties: { worker_id: { type: "string" }, started_at_ms: int, ended_at_ms: int, duration_ms: int, outcome: { type: "string", enum: [...RUN_OUTCOMES] }, error: nullableString },
        },
      },
      lease: {
        type: ["object", "null"],
        description: "While running: who holds it, since when, until when, and the worker as GET /api/v1/workers shows it (null when unknown).",
        properties: { worker_id: nullableString, started_at_ms: nullableInt, expires_at_ms: nullableInt, running_ms: nullableInt, worker: { type: ["object", "null"] } },
      },
      waiting: {
        type: "array",
        description: "Why a waiting task is not running, most decisive first; empty when it runs or finished.",
        items: {
          type: "object",
          required: ["code", "message", "until_ms", "count"],
          properties: { code: { type: "string", enum: [...WAIT_REASONS] }, message: { type: "string" }, until_ms: nullableInt, count: nullableInt },
        },
      },
      timeline: {
        type: "array",
        items: { type: "object", required: ["at_ms", "event", "detail"], properties: { at_ms: int, event: { type: "string" }, detail: nullableString } },
      },
    },
  },
  Principal: { type: "object", required: ["name", "role"], properties: { name: { type: "string" }, role: { type: "string", enum: ["admin", "producer", "worker"] } } },
  Overview: {
    type: "object",
    required: ["uptime_ms", "tasks", "queues", "worker_states", "activity"],
    description: "GET /api/v1/stats's fields, with queues (and their rates) at the top level, worker_states {alive, dead} and the latest activity slot.",
    properties: {
      uptime_ms: int,
      tasks: { type: "object" },
      queues: { type: "array", items: { $ref: "#/components/schemas/Queue" } },
      worker_states: { type: "object", required: ["alive", "dead"], properties: { alive: int, dead: int } },
      activity: { type: "object" },
    },
  },
  BodyView: {
    type: "object",
    required: ["bytes", "shown_as", "text", "truncated", "download"],
    properties: {
      bytes: int,
      shown_as: { type: "string", enum: ["json", "text", "hex"] },
      text: { type: "string", description: `Pretty JSON or text (first ${MAX_SHOWN_CHARS} characters), or a hex dump (first ${MAX_HEX_BYTES} bytes).` },
      truncated: { type: "boolean" },
      download: { type: "string", description: "Path of the whole body (GET with the same key)." },
    },
  },
  BulkRequest: {
    type: "object",
    required: ["action", "status"],
    additionalProperties: false,
    properties: {
      action: { type: "string", enum: [...BULK_ACTIONS] },
      status: { type: "string", enum: [...TASK_STATUSES], description: "Required: retry takes dead or cancelled; cancel pending, scheduled, failed or in_progress; delete any but in_progress." },
      queue: { type: "string" },
      type: { type: "string" },
      worker_id: { type: "string" },
      older_than_ms: { type: "integer", minimum: 0, description: "Only tasks last changed more than this long ago." },
      dry_run: { type: "boolean", default: false, description: "Only count what matches." },
      max: { type: "integer", minimum: 1, maximum: MAX_BULK_PER_CALL, default: MAX_BULK_PER_CALL },
    },
  },
  PurgeRequest: {
    type: "object",
    additionalProperties: false,
    properties: { dry_run: { type: "boolean", default: false }, max: { type: "integer", minimum: 1, maximum: MAX_BULK_PER_CALL } },
  },
  BulkOutcome: {
    type: "object",
    required: ["action", "matched", "changed", "skipped", "done"],
    properties: {
      action: { type: "string", enum: [...BULK_ACTIONS] },
      matched: { type: "integer", description: "Tasks matching before this call." },
      changed: { type: "integer", description: "Tasks this call changed." },
      skipped: { type: "integer", description: "Matching tasks that changed status meanwhile and were left alone." },
      done: { type: "boolean", description: "No matching task is left: stop calling." },
    },
  },
  Activity: {
    type: "object",
    required: ["slot_ms", "points"],
    properties: {
      slot_ms: int,
      points: {
        type: "array",
        items: {
          type: "object",
          required: ["at_ms", "submitted", "completed", "failed", "pending", "scheduled", "in_progress"],
          properties: { at_ms: int, submitted: int, completed: int, failed: int, pending: nullableInt, scheduled: nullableInt, in_progress: nullableInt },
        },
      },
    },
  },
  QueueList: { type: "object", required: ["queues"], properties: { queues: { type: "array", items: { $ref: "#/components/schemas/Queue" } } } },
  QueueState: { type: "object", required: ["name", "paused"], properties: { name: { type: "string" }, paused: { type: "boolean" } } },
  Worker: {
    type: "object",
    required: ["id", "status", "address", "hostname", "pid", "queues", "concurrency", "version", "labels", "registered_at_ms", "last_seen_at_ms", "command"],
    properties: {
      id: { type: "string" },
      status: {
        type: "string",
        enum: [...WORKER_STATUSES],
        description: "dead: declared dead (missed heartbeats or closed connection) and still listed until silent for worker.max_inactivity_secs; quiet / shutting_down: what the operator asked.",
      },
      address: { type: ["string", "null"], description: "Remote address of the connection the worker speaks on; null when registered in-process." },
      hostname: { type: "string" },
      pid: int,
      queues: { type: "array", items: { type: "string" } },
      concurrency: int,
      version: { type: "string" },
      labels: { type: "object", additionalProperties: { type: "string" } },
      registered_at_ms: int,
      last_seen_at_ms: int,
      disconnected_at_ms: nullableInt,
      dead_at_ms: nullableInt,
      cpu_percent: { type: "number" },
      memory_mb: { type: "number" },
      in_flight: int,
      auto_registered: { type: "boolean", description: "Made up from a heartbeat or claim without RegisterWorker." },
      running: {
        type: "array",
        description: `The tasks it holds leases on now, from the broker's leases (not the heartbeat's count): at most ${MAX_RUNNING_SHOWN}.`,
        items: { type: "object", required: ["id", "type", "queue", "started_at_ms", "lease_expires_at_ms"], properties: { id: { type: "string" }, type: { type: "string" }, queue: { type: "string" }, started_at_ms: nullableInt, lease_expires_at_ms: nullableInt } },
      },
      running_count: { type: "integer", description: "How many tasks it holds leases on now." },
      command: { type: "string", enum: [...WORKER_COMMANDS], description: "What the operator asked; sent in the next heartbeat reply." },
    },
  },
  ForwardedWorkerCommand: {
    type: "object",
    required: ["id", "command", "node_id", "forwarded"],
    description: "The worker is served by another broker of the cluster (persistence.backend: postgres): the command was passed to it, which applies it on receipt.",
    properties: {
      id: { type: "string", description: "Worker id." },
      command: { type: "string", enum: ["quiet", "shutdown"] },
      node_id: { type: "string", description: "raft.node_id of the broker that last saw the worker and applies the command." },
      forwarded: { type: "boolean", enum: [true] },
    },
  },
  WorkerList: {
    type: "object",
    required: ["workers", "recently_dead"],
    properties: {
      workers: { type: "array", items: { $ref: "#/components/schemas/Worker" } },
      recently_dead: {
        type: "array",
        description: "Workers that died in the last hour and were forgotten since (after worker.max_inactivity_secs), newest death first, at most 100; without running/running_count. One registered again under the same id is not repeated here.",
        items: { $ref: "#/components/schemas/Worker" },
      },
    },
  },
  Stats: {
    type: "object",
    required: ["uptime_ms", "tasks", "workers", "parked_claims", "paused_queues", "totals"],
    description: "Also carries whatever the composed broker adds (e.g. connections, commits), snake_cased.",
    properties: {
      uptime_ms: int,
      tasks: {
        type: "object",
        required: ["pending", "scheduled", "in_progress", "retrying", "completed", "dead", "cancelled"],
        description: "Tasks the store holds now, by status: completed, dead and cancelled come from the store, so they survive restarts.",
        properties: {
          pending: int, scheduled: int, in_progress: int, retrying: int, completed: int, dead: int, cancelled: int,
          queues: { type: "array", items: { $ref: "#/components/schemas/Queue" } },
        },
      },
      workers: int,
      parked_claims: int,
      result_waiters: int,
      paused_queues: { type: "array", items: { type: "string" } },
      totals: { type: "object", additionalProperties: { type: "integer" }, description: "Counters since start: submitted, claimed, completed, ..." },
      background: {
        type: "object",
        description: "What each background job did last (worker reaping, scheduler ticks, retention), by job.",
        additionalProperties: { type: "object", additionalProperties: { type: ["number", "null"] } },
      },
    },
  },
  Health: { type: "object", required: ["status"], properties: { status: { type: "string", enum: ["ok"] }, version: { type: "string" } } },
  Readiness: {
    type: "object",
    required: ["status", "checks"],
    properties: {
      status: { type: "string", enum: ["ready", "not_ready"] },
      checks: {
        type: "object",
        description: "store: the store accepted a write; disk: the data dir's file system is not nearly full; one entry per listener: it is bound.",
        additionalProperties: {
          type: "object",
          required: ["ok"],
          properties: { ok: { type: "boolean" }, error: { type: "string" } },
        },
      },
    },
  },
} as const satisfies Record<string, JsonSchema>;
