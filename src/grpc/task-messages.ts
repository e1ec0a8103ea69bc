// Broker values <-> the messages of proto/tq/v1/broker.proto, as grpc-js hands them over (field
// names as the .proto spells them, enums by name, 64-bit integers as numbers). Translation only:
// every check of a submitted task is the broker's (submit-spec.ts); errors about its fields are
// re-spelled with the .proto's names.

import { SpecFieldError, type SpecField, type SpellField, type SubmitSpec } from "../broker/submit-spec.ts";
import type { ReportSettled, ResultReport } from "../broker/broker.ts";
import { BrokerError, ErrorCode, ERRORS, type ErrorCodeValue } from "../protocol/errors.ts";
import { isUuid } from "../protocol/uuid.ts";
import { fitOneReply } from "../protocol/task-size.ts";
import type { WorkerCommand } from "../protocol/wire-values.ts";
import type { FailureOutcome, Lease, LeaseRef, Task, TaskResultIn, TaskStatus } from "../rules/task.ts";
import { TASK_STATUSES } from "../rules/task.ts";

// ---- the messages as grpc-js decodes them (LOADER_OPTIONS: defaults on, oneofs named) ----------

export interface TaskSpecMsg {
  type: string;
  queue: string;
  payload: Buffer;
  payload_is_json: boolean;
  priority_choice?: "priority" | "tier";
  priority?: number;
  tier?: string;
  schedule?: "run_at_ms" | "delay_ms";
  run_at_ms?: number;
  delay_ms?: number;
  max_retries?: number;
  lease_ms?: number;
  idempotency_key: string;
}

export interface LeaseRefMsg {
  id: string;
  token: number;
}

export interface TaskResultMsg {
  id: string;
  token: number;
  outcome: string;
  result: Buffer;
  result_is_json: boolean;
  error: string;
}

// ---- enums ---------------------------------------------------------------------------------

const STATUS_PREFIX = "TASK_STATUS_";

export function statusName(status: TaskStatus): string {
  return `${STATUS_PREFIX}${status.toUpperCase()}`;
}

/** A TaskStatus enum name as the broker's status; undefined for TASK_STATUS_UNSPECIFIED. */
export function statusFromName(name: string, field: string): TaskStatus | undefined {
  if (name === "TASK_STATUS_UNSPECIFIED" || name === "") return undefined;
  const status = name.startsWith(STATUS_PREFIX) ? name.slice(STATUS_PREFIX.length).toLowerCase() : "";
  if ((TASK_STATUSES as readonly string[]).includes(status)) return status as TaskStatus;
  throw invalid(field, `expected a TaskStatus, got ${JSON.stringify(name)}`);
}

const TIERS: Readonly<Record<string, string>> = { TIER_HIGH: "high", TIER_NORMAL: "normal", TIER_LOW: "low" };

export function commandName(command: WorkerCommand): string {
  return `WORKER_COMMAND_${command.toUpperCase()}`;
}

// ---- checks of what only this door carries ----------------------------------------------------

export function invalid(field: string, message: string): BrokerError {
  return new BrokerError(ErrorCode.InvalidField, `${field}: ${message}`, { field });
}

/** Task ids travel as UUID text; anything else is named before the broker looks it up. */
export function taskId(id: string, field = "id"): string {
  if (!isUuid(id)) throw invalid(field, `expected a task id (UUID text like 01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90), got ${JSON.stringify(id.slice(0, 64))}`);
  return id.toLowerCase();
}

export function leaseRefs(refs: readonly LeaseRefMsg[], field = "leases"): LeaseRef[] {
  return refs.map((r, i) => ({ id: taskId(r.id, `${field}[${i}].id`), token: r.token }));
}

// ---- producers -------------------------------------------------------------------------------

const PROTO_NAME: Readonly<Record<SpecField, string>> = {
  type: "type",
  queue: "queue",
  payload: "payload",
  payloadIsJson: "payload_is_json",
  priority: "priority",
  runAtMs: "run_at_ms",
  delayMs: "delay_ms",
  maxRetries: "max_retries",
  leaseMs: "lease_ms",
  idempotencyKey: "idempotency_key",
};

const protoFieldName: SpellField = (field) => PROTO_NAME[field];

/** A broker error about a submitted field, named as the .proto names it; anything else as it is. */
export function inProtoNames(err: unknown): unknown {
  return err instanceof SpecFieldError ? err.spelled(protoFieldName) : err;
}

export function toSubmitSpec(m: TaskSpecMsg | null | undefined, prefix: string): SubmitSpec {
  if (m === null || m === undefined) throw invalid(prefix === "" ? "task" : prefix.slice(0, -1), "expected a task");
  const spec: SubmitSpec = { type: m.type, queue: m.queue, payload: m.payload, payloadIsJson: m.payload_is_json };
  if (m.priority_choice === "priority") spec.priority = m.priority;
  else if (m.priority_choice === "tier") {
    const tier = TIERS[m.tier ?? ""];
    if (tier === undefined) throw invalid(`${prefix}tier`, `expected TIER_HIGH, TIER_NORMAL or TIER_LOW, got ${JSON.stringify(m.tier)}`);
    spec.priority = tier;
  }
  if (m.schedule === "run_at_ms") spec.runAtMs = m.run_at_ms;
  else if (m.schedule === "delay_ms") spec.delayMs = m.delay_ms;
  if (m.max_retries !== undefined) spec.maxRetries = m.max_retries;
  if (m.lease_ms !== undefined) spec.leaseMs = m.lease_ms;
  if (m.idempotency_key !== "") spec.idempotencyKey = m.idempotency_key;
  return spec;
}

export function taskMessage(stored: Task): Record<string, unknown> {
  // The same cut as a TCP reply: a task stored by an earlier build that passes one message's room.
  const t = fitOneReply(stored);
  return {
    id: t.id,
    status: statusName(t.status),
    type: t.type,
    queue: t.queue,
    priority: t.priority,
    attempts: t.attempts,
    max_retries: t.maxRetries,
    lease_ms: t.leaseMs,
    run_at_ms: t.runAtMs ?? 0,
    created_at_ms: t.createdAtMs,
    updated_at_ms: t.updatedAtMs,
    started_at_ms: t.startedAtMs ?? 0,
    finished_at_ms: t.finishedAtMs ?? 0,
    lease_expires_at_ms: t.leaseExpiresAtMs ?? 0,
    worker_id: t.workerId ?? "",
    idempotency_key: t.idempotencyKey ?? "",
    payload: t.payload,
    payload_is_json: t.payloadIsJson,
    ...(t.result === null ? {} : { result: t.result }),
    result_is_json: t.resultIsJson,
    ...(t.error === null ? {} : { error: t.error }),
  };
}

// ---- workers ---------------------------------------------------------------------------------

export function claimedTask(lease: Lease): Record<string, unknown> {
  const t = lease.task;
  return {
    id: t.id,
    token: lease.token,
    expires_at_ms: lease.expiresAtMs,
    attempts: t.attempts,
    priority: t.priority,
    queue: t.queue,
    type: t.type,
    payload_is_json: t.payloadIsJson,
    payload: t.payload,
    created_at_ms: t.createdAtMs,
    max_retries: t.maxRetries,
    lease_ms: t.leaseMs,
  };
}

/** A report as the broker takes it; the outcome must be named. */
export function toReport(m: TaskResultMsg | null | undefined, field: string): ResultReport {
  if (m === null || m === undefined) throw invalid(field, "expected a result");
  const lease = { id: taskId(m.id, `${field}.id`), token: m.token };
  switch (m.outcome) {
    case "OUTCOME_COMPLETED": {
      // As over TCP: an empty result not marked JSON is "no result".
      const completed: TaskResultIn = { result: m.result.byteLength === 0 && !m.result_is_json ? null : m.result, resultIsJson: m.result_is_json };
      return { lease, completed };
    }
    case "OUTCOME_FAILED":
    case "OUTCOME_UNRECOVERABLE":
      return { lease, failed: { error: m.error, unrecoverable: m.outcome === "OUTCOME_UNRECOVERABLE" } };
    default:
      throw invalid(`${field}.outcome`, `expected OUTCOME_COMPLETED, OUTCOME_FAILED or OUTCOME_UNRECOVERABLE, got ${JSON.stringify(m.outcome)}`);
  }
}

export function failOutcome(f: FailureOutcome): Record<string, unknown> {
  return { status: statusName(f.status), retry_at_ms: f.retryAtMs ?? 0, attempts: f.attempts };
}

export function errorMessage(err: BrokerError): Record<string, unknown> {
  return {
    code: err.code,
    name: ERRORS[err.code as ErrorCodeValue]?.name ?? "Internal",
    field: err.field ?? "",
    message: err.message,
    retry_after_ms: err.retryAfterMs ?? 0,
  };
}

export function reportEntry(settled: ReportSettled): Record<string, unknown> {
  if (!settled.ok) return { error: errorMessage(settled.error) };
  return settled.failure === null ? { ok: {} } : { fail: failOutcome(settled.failure) };
}
