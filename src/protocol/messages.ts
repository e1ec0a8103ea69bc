// Every message of the wire protocol as a TypeScript type: `kind` names it (the key of
// RequestType/ResponseType), `requestId` is the u32 that responses echo. Types only — the byte
// layouts live in request-codec.ts / response-codec.ts and docs/PROTOCOL.md.
// Absent values are `null` (timestamps: 0 on the wire) or an omitted optional property.

import type { FailStatus, TaskOutcome, WireTaskStatus, WorkerCommand } from "./wire-values.ts";

/** What a producer submits. Omitted optional fields mean "the broker's default". */
export interface TaskSpec {
  type: string;
  /** Queue name; the decoder turns "" (the wire's "default queue") into "default". */
  queue: string;
  payload: Uint8Array;
  payloadIsJson: boolean;
  priority?: number;
  runAtMs?: number;
  maxRetries?: number;
  leaseMs?: number;
  idempotencyKey?: string;
}

/** A lease as the worker names it when reporting, renewing or handing back. */
export interface LeaseRef {
  /** Task id, canonical lowercase UUID text. */
  id: string;
  token: number;
}

export interface SubmitOutcomeWire {
  id: string;
  status: WireTaskStatus;
  /** True when an idempotency key matched an existing task: `id` is that task's. */
  duplicate: boolean;
}

/** A task handed to a worker by a claim: what it needs to run it and to prove its lease. */
export interface ClaimedTask {
  id: string;
  token: number;
  expiresAtMs: number;
  attempts: number;
  priority: number;
  queue: string;
  type: string;
  payloadIsJson: boolean;
  payload: Uint8Array;
  createdAtMs: number;
  maxRetries: number;
}

/** The full task as QueryStatus/WaitResult/Cancel/Retry/ListTasks return it. Field for field the
 *  same shape as rules/task.ts `Task`, so a stored task can be sent as is. */
export interface TaskInfo {
  id: string;
  status: WireTaskStatus;
  type: string;
  queue: string;
  priority: number;
  attempts: number;
  maxRetries: number;
  leaseMs: number;
  runAtMs: number | null;
  createdAtMs: number;
  updatedAtMs: number;
  startedAtMs: number | null;
  finishedAtMs: number | null;
  leaseExpiresAtMs: number | null;
  workerId: string | null;
  idempotencyKey: string | null;
  payloadIsJson: boolean;
  payload: Uint8Array;
  resultIsJson: boolean;
  result: Uint8Array | null;
  error: string | null;
}

export interface WorkerLabel {
  key: string;
  value: string;
}

// ---- Requests (client -> broker) ----

export interface HelloRequest { kind: "Hello"; requestId: number; version: number; apiKey: string; clientName: string }
export interface SubmitTaskRequest { kind: "SubmitTask"; requestId: number; task: TaskSpec }
export interface SubmitBatchRequest { kind: "SubmitBatch"; requestId: number; tasks: TaskSpec[] }
export interface ClaimTaskRequest {
  kind: "ClaimTask";
  requestId: number;
  /** Never empty after decoding: an empty wire list means ["default"]. */
  queues: string[];
  /** Most tasks to take, >= 1; the broker caps it at max_batch_claim. */
  max: number;
  /** 0 = answer at once; else block up to this long for a task. */
  waitMs: number;
}
/** How one run ended, as TaskResult carries it and each item of a TaskResultBatch. */
export interface TaskResultItem {
  id: string;
  token: number;
  outcome: TaskOutcome;
  /** For "completed"; empty otherwise. */
  resultIsJson: boolean;
  result: Uint8Array;
  /** For "failed"/"unrecoverable"; empty otherwise. */
  error: string;
}
export interface TaskResultRequest extends TaskResultItem {
  kind: "TaskResult";
  requestId: number;
}
/** Several results in one frame; each item is settled as if it came alone in a TaskResult. */
export interface TaskResultBatchRequest { kind: "TaskResultBatch"; requestId: number; results: TaskResultItem[] }
export interface NackRequest { kind: "Nack"; requestId: number; leases: LeaseRef[] }
export interface RenewLeaseRequest { kind: "RenewLease"; requestId: number; leases: LeaseRef[] }
export interface HeartbeatRequest {
  kind: "Heartbeat";
  requestId: number;
  workerId: string;
  cpuPercent: number;
  memoryMb: number;
  /** Leases the worker is running: the heartbeat renews them. */
  inFlight: LeaseRef[];
}
export interface RegisterWorkerRequest {
  kind: "RegisterWorker";
  requestId: number;
  workerId: string;
  hostname: string;
  pid: number;
  queues: string[];
  concurrency: number;
  version: string;
  labels: WorkerLabel[];
}
export interface DeregisterWorkerRequest { kind: "DeregisterWorker"; requestId: number; workerId: string }
export interface QueryStatusRequest { kind: "QueryStatus"; requestId: number; id: string }
export interface WaitResultRequest { kind: "WaitResult"; requestId: number; id: string; waitMs: number }
export interface CancelTaskRequest { kind: "CancelTask"; requestId: number; id: string }
export interface RetryTaskRequest { kind: "RetryTask"; requestId: number; id: string }
export interface ListTasksRequest {
  kind: "ListTasks";
  requestId: number;
  status?: WireTaskStatus;
  queue?: string;
  type?: string;
  /** 1..MAX_LIST_LIMIT. */
  limit: number;
  cursor?: string;
  /** Default "oldest": finished tasks by finish time, the others by submission (flag bit newestFirst). */
  order?: "oldest" | "newest";
}
export interface GetStatsRequest { kind: "GetStats"; requestId: number }
export interface ListWorkersRequest { kind: "ListWorkers"; requestId: number }
export interface PingRequest { kind: "Ping"; requestId: number }
/** Notices a worker connection asks the broker to push (NOTICE bits); answered with Ack. */
export interface EnableNoticesRequest { kind: "EnableNotices"; requestId: number; notices: number }

/**
 * Opens (or, with an id already open on this connection, changes) a subscription: the broker
 * pushes tasks of `queues` in Delivery frames while fewer than `credits` of its tasks are out.
 */
export interface SubscribeRequest { kind: "Subscribe"; requestId: number; subscriptionId: number; queues: string[]; credits: number }
/** Ends a subscription: no Delivery for it follows the Ack. Its tasks already delivered stay leased. */
export interface UnsubscribeRequest { kind: "Unsubscribe"; requestId: number; subscriptionId: number }

export type Request =
  | HelloRequest
  | SubmitTaskRequest
  | SubmitBatchRequest
  | ClaimTaskRequest
  | TaskResultRequest
  | NackRequest
  | RenewLeaseRequest
  | HeartbeatRequest
  | RegisterWorkerRequest
  | DeregisterWorkerRequest
  | QueryStatusRequest
  | WaitResultRequest
  | CancelTaskRequest
  | RetryTaskRequest
  | ListTasksRequest
  | GetStatsRequest
  | ListWorkersRequest
  | PingRequest
  | TaskResultBatchRequest
  | EnableNoticesRequest
  | SubscribeRequest
  | UnsubscribeRequest;

// ---- Responses (broker -> client) ----

export interface AckResponse { kind: "Ack"; requestId: number }
export interface HelloOkResponse {
  kind: "HelloOk";
  requestId: number;
  version: number;
  serverVersion: string;
  maxFrameBytes: number;
  maxBatchClaim: number;
  heartbeatIntervalMs: number;
  defaultLeaseMs: number;
}
export type SubmittedResponse = { kind: "Submitted"; requestId: number } & SubmitOutcomeWire;
export interface SubmittedBatchResponse { kind: "SubmittedBatch"; requestId: number; outcomes: SubmitOutcomeWire[] }
export interface ClaimedResponse { kind: "Claimed"; requestId: number; tasks: ClaimedTask[] }
/** The answer to a TaskResult reporting a failure: what the broker did with the task. */
export interface FailOutcomeResponse {
  kind: "FailOutcome";
  requestId: number;
  status: FailStatus;
  /** When the retry becomes ready; null when dead. */
  retryAtMs: number | null;
  attempts: number;
}
/**
 * What became of one item of a TaskResultBatch: "ok" (a completion, acknowledged as Ack would),
 * "fail" (a failure: what FailOutcome would say), or "error" (that item alone was refused, with
 * the fields of an Error frame: a LeaseLost or NotFound item leaves the others untouched).
 */
export type ResultEntry =
  | { entry: "ok" }
  | { entry: "fail"; status: FailStatus; retryAtMs: number | null; attempts: number }
  | { entry: "error"; code: number; retryAfterMs: number; field: string; message: string };
/** The answer to a TaskResultBatch: one entry per item, in request order. */
export interface ResultBatchOutcomeResponse { kind: "ResultBatchOutcome"; requestId: number; entries: ResultEntry[] }
/** One entry per lease asked, in order: the new expiry, or null when the lease was lost. */
export interface RenewedResponse { kind: "Renewed"; requestId: number; expiresAtMs: (number | null)[] }
export interface HeartbeatOkResponse { kind: "HeartbeatOk"; requestId: number; command: WorkerCommand; renewed: (number | null)[] }
export interface RegisteredResponse { kind: "Registered"; requestId: number; heartbeatIntervalMs: number }
export interface TaskInfoResponse { kind: "TaskInfo"; requestId: number; task: TaskInfo }
export interface TaskListResponse { kind: "TaskList"; requestId: number; tasks: TaskInfo[]; nextCursor: string | null }
/** Broker statistics as JSON text: the shape evolves faster than a binary layout should. */
export interface StatsResponse { kind: "Stats"; requestId: number; json: string }
export interface WorkersResponse { kind: "Workers"; requestId: number; json: string }
export interface PongResponse { kind: "Pong"; requestId: number }
/**
 * Pushed, not an answer (requestId always 0): the task this worker runs under `token` was
 * cancelled; its lease has ended, so stop running it (a late result gets LeaseLost).
 */
export interface TaskCancelledNotice { kind: "TaskCancelled"; requestId: number; id: string; token: number }
/**
 * Pushed, not an answer (requestId always 0): tasks leased to the subscription's worker, as a
 * Claimed reply carries them. Each used one of the subscription's credits.
 */
export interface DeliveryPush { kind: "Delivery"; requestId: number; subscriptionId: number; tasks: ClaimedTask[] }
export interface ErrorResponse {
  kind: "Error";
  requestId: number;
  /** A code of errors.ts ERRORS; clients treat unknown codes as Internal. */
  code: number;
  /** 0 = no hint. */
  retryAfterMs: number;
  /** "" = no particular field. */
  field: string;
  message: string;
}

export type Response =
  | AckResponse
  | HelloOkResponse
  | SubmittedResponse
  | SubmittedBatchResponse
  | ClaimedResponse
  | FailOutcomeResponse
  | RenewedResponse
  | HeartbeatOkResponse
  | RegisteredResponse
  | TaskInfoResponse
  | TaskListResponse
  | StatsResponse
  | WorkersResponse
  | PongResponse
  | ResultBatchOutcomeResponse
  | TaskCancelledNotice
  | DeliveryPush
  | ErrorResponse;

export type RequestOf<K extends Request["kind"]> = Extract<Request, { kind: K }>;
export type ResponseOf<K extends Response["kind"]> = Extract<Response, { kind: K }>;
