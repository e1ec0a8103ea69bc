// Sample values of every request and response kind, used by the round-trip, fuzz and doc-example
// tests and by the generator of docs/PROTOCOL.md's hex examples. The first sample of each kind is
// the one the doc shows. The mapped types make a new message kind without a sample a type error.

import type { Request, RequestOf, Response, ResponseOf, TaskInfo } from "../../../src/protocol/messages.ts";
import type { RequestKind, ResponseKind } from "../../../src/protocol/message-types.ts";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

export const TASK_ID = "01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90";
export const TASK_ID_2 = "01936f0e-7a3c-7d22-a0b1-c2d3e4f50617";
const T0 = 1_733_000_000_000;

const completedTask: TaskInfo = {
  id: TASK_ID,
  status: "completed",
  type: "email.send",
  queue: "default",
  priority: 150,
  attempts: 0,
  maxRetries: 3,
  leaseMs: 30_000,
  runAtMs: null,
  createdAtMs: T0,
  updatedAtMs: T0 + 1200,
  startedAtMs: T0 + 200,
  finishedAtMs: T0 + 1200,
  leaseExpiresAtMs: null,
  workerId: "w1",
  idempotencyKey: null,
  payloadIsJson: true,
  payload: text('{"to":"a@b.c"}'),
  resultIsJson: true,
  result: text('{"ok":true}'),
  error: null,
};

const deadTask: TaskInfo = {
  ...completedTask,
  id: TASK_ID_2,
  status: "dead",
  queue: "reports",
  priority: 50,
  attempts: 4,
  runAtMs: T0 + 60_000,
  idempotencyKey: "order-42",
  payloadIsJson: false,
  payload: new Uint8Array([0, 1, 2, 0xff]),
  resultIsJson: false,
  result: null,
  error: "smtp: connection refused ⚠",
  leaseExpiresAtMs: T0 + 999,
};

export const REQUEST_SAMPLES: { [K in RequestKind]: RequestOf<K>[] } = {
  Hello: [{ kind: "Hello", requestId: 1, version: 1, apiKey: "k3y", clientName: "py-worker" }],
  SubmitTask: [
    { kind: "SubmitTask", requestId: 2, task: { type: "email.send", queue: "default", payload: text('{"to":"a@b.c"}'), payloadIsJson: true } },
    {
      kind: "SubmitTask",
      requestId: 0xffff_ffff,
      task: {
        type: "report",
        queue: "reports",
        payload: new Uint8Array([0, 1, 2, 0xff]),
        payloadIsJson: false,
        priority: 255,
        runAtMs: T0 + 60_000,
        maxRetries: 5,
        leaseMs: 120_000,
        idempotencyKey: "order-42",
      },
    },
  ],
  SubmitBatch: [
    {
      kind: "SubmitBatch",
      requestId: 3,
      tasks: [
        { type: "a", queue: "default", payload: text("1"), payloadIsJson: true, priority: 10 },
        { type: "b", queue: "q2", payload: new Uint8Array(0), payloadIsJson: false },
      ],
    },
  ],
  ClaimTask: [
    { kind: "ClaimTask", requestId: 4, queues: ["default"], max: 10, waitMs: 30_000 },
    { kind: "ClaimTask", requestId: 0, queues: ["high", "low.jobs", "a:b-c_d"], max: 1, waitMs: 0 },
  ],
  TaskResult: [
    { kind: "TaskResult", requestId: 5, id: TASK_ID, token: 1, outcome: "completed", resultIsJson: true, result: text('{"ok":true}'), error: "" },
    { kind: "TaskResult", requestId: 6, id: TASK_ID, token: 2, outcome: "failed", resultIsJson: false, result: new Uint8Array(0), error: "timeout" },
    { kind: "TaskResult", requestId: 6, id: TASK_ID, token: 3, outcome: "unrecoverable", resultIsJson: false, result: new Uint8Array(0), error: "bad input é" },
  ],
  Nack: [{ kind: "Nack", requestId: 7, leases: [{ id: TASK_ID, token: 1 }] }],
  RenewLease: [
    { kind: "RenewLease", requestId: 8, leases: [{ id: TASK_ID, token: 1 }, { id: TASK_ID_2, token: 0xffff_ffff }] },
    { kind: "RenewLease", requestId: 8, leases: [] },
  ],
  Heartbeat: [{ kind: "Heartbeat", requestId: 9, workerId: "w1", cpuPercent: 12.5, memoryMb: 256, inFlight: [{ id: TASK_ID, token: 1 }] }],
  RegisterWorker: [
    {
      kind: "RegisterWorker",
      requestId: 10,
      workerId: "w1",
      hostname: "host-a",
      pid: 4242,
      queues: ["default"],
      concurrency: 4,
      version: "1.0.0",
      labels: [{ key: "zone", value: "eu-1" }],
    },
  ],
  DeregisterWorker: [{ kind: "DeregisterWorker", requestId: 11, workerId: "w1" }],
  QueryStatus: [{ kind: "QueryStatus", requestId: 12, id: TASK_ID }],
  WaitResult: [{ kind: "WaitResult", requestId: 13, id: TASK_ID, waitMs: 5000 }],
  CancelTask: [{ kind: "CancelTask", requestId: 14, id: TASK_ID }],
  RetryTask: [{ kind: "RetryTask", requestId: 15, id: TASK_ID }],
  ListTasks: [
    { kind: "ListTasks", requestId: 16, status: "dead", queue: "reports", limit: 100 },
    { kind: "ListTasks", requestId: 16, type: "email.send", limit: 1, cursor: "c-123" },
    { kind: "ListTasks", requestId: 16, limit: 1000 },
    { kind: "ListTasks", requestId: 16, status: "completed", limit: 20, order: "newest" },
  ],
  GetStats: [{ kind: "GetStats", requestId: 17 }],
  ListWorkers: [{ kind: "ListWorkers", requestId: 18 }],
  Ping: [{ kind: "Ping", requestId: 19 }],
  TaskResultBatch: [
    {
      kind: "TaskResultBatch",
      requestId: 20,
      results: [
        { id: TASK_ID, token: 1, outcome: "completed", resultIsJson: true, result: text('{"ok":true}'), error: "" },
        { id: TASK_ID_2, token: 7, outcome: "failed", resultIsJson: false, result: new Uint8Array(0), error: "timeout" },
      ],
    },
    {
      kind: "TaskResultBatch",
      requestId: 0xffff_ffff,
      results: [{ id: TASK_ID, token: 0xffff_ffff, outcome: "unrecoverable", resultIsJson: false, result: new Uint8Array([0, 0xff]), error: "bad input é" }],
    },
  ],
  EnableNotices: [
    { kind: "EnableNotices", requestId: 21, notices: 1 },
    { kind: "EnableNotices", requestId: 22, notices: 0 },
  ],
  Subscribe: [
    { kind: "Subscribe", requestId: 23, subscriptionId: 1, queues: ["default"], credits: 16 },
    { kind: "Subscribe", requestId: 0xffff_ffff, subscriptionId: 0xffff_ffff, queues: ["high", "low.jobs"], credits: 10_000 },
  ],
  Unsubscribe: [{ kind: "Unsubscribe", requestId: 24, subscriptionId: 1 }],
};

/** One worker as ListWorkers sends it (docs/PROTOCOL.md shows the same object key by key). */
export const WORKER_JSON = {
  id: "w1",
  status: "alive",
  address: "10.0.0.7",
  hostname: "host-a",
  pid: 4242,
  queues: ["default"],
  concurrency: 4,
  version: "1.0.0",
  labels: { zone: "eu-1" },
  registeredAtMs: 1733000000000,
  lastSeenAtMs: 1733000045000,
  disconnectedAtMs: null,
  deadAtMs: null,
  cpuPercent: 12.5,
  memoryMb: 256,
  inFlight: 1,
  autoRegistered: false,
  command: 0,
  running: 1,
};

/** GetStats's JSON as the broker sends it (docs/PROTOCOL.md shows the same object key by key). */
export const STATS_JSON = {
  uptimeMs: 3_600_000,
  tasks: {
    pending: 3,
    scheduled: 1,
    inProgress: 1,
    queues: [{ queue: "default", pending: { high: 1, normal: 2, low: 0 }, scheduled: 1, inProgress: 1, oldestReadyAtMs: 1733000000000 }],
  },
  workers: 1,
  parkedClaims: 0,
  resultWaiters: 0,
  pausedQueues: ["reports"],
  totals: { submitted: 5, claimed: 2, completed: 1, failed: 0, dead: 0, reclaimed: 0, queueFull: 0 },
  background: {
    workers: { lastRunAtMs: 1733000045000, runs: 240, reaped: 0 },
    scheduler: { lastRunAtMs: 1733000059000, runs: 3600, promoted: 1, leasesExpired: 0 },
    retention: { lastRunAtMs: null, runs: 0, purged: 0, pagesFreed: 0 },
  },
  connections: 2,
  commits: {
    commits: 6, ops: 8, p50Ms: 1.2, p99Ms: 3.4, maxMs: 3.4, checkpoints: 1, checkpointStallMaxMs: 0, checkpointStallTotalMs: 0, backgroundCheckpointMaxMs: 9.1,
  },
};

export const RESPONSE_SAMPLES: { [K in ResponseKind]: ResponseOf<K>[] } = {
  Ack: [{ kind: "Ack", requestId: 5 }],
  HelloOk: [
    {
      kind: "HelloOk",
      requestId: 1,
      version: 1,
      serverVersion: "0.1.0",
      maxFrameBytes: 16 * 1024 * 1024,
      maxBatchClaim: 10,
      heartbeatIntervalMs: 15_000,
      defaultLeaseMs: 30_000,
    },
  ],
  Submitted: [
    { kind: "Submitted", requestId: 2, id: TASK_ID, status: "pending", duplicate: false },
    { kind: "Submitted", requestId: 2, id: TASK_ID_2, status: "scheduled", duplicate: true },
  ],
  SubmittedBatch: [
    {
      kind: "SubmittedBatch",
      requestId: 3,
      outcomes: [
        { id: TASK_ID, status: "pending", duplicate: false },
        { id: TASK_ID_2, status: "pending", duplicate: false },
      ],
    },
  ],
  Claimed: [
    {
      kind: "Claimed",
      requestId: 4,
      tasks: [
        {
          id: TASK_ID,
          token: 1,
          expiresAtMs: T0 + 30_200,
          attempts: 0,
          priority: 150,
          queue: "default",
          type: "email.send",
          payloadIsJson: true,
          payload: text('{"to":"a@b.c"}'),
          createdAtMs: T0,
          maxRetries: 3,
        },
      ],
    },
    { kind: "Claimed", requestId: 4, tasks: [] },
  ],
  FailOutcome: [
    { kind: "FailOutcome", requestId: 6, status: "failed", retryAtMs: T0 + 2000, attempts: 1 },
    { kind: "FailOutcome", requestId: 6, status: "dead", retryAtMs: null, attempts: 4 },
  ],
  Renewed: [{ kind: "Renewed", requestId: 8, expiresAtMs: [T0 + 60_000, null] }],
  HeartbeatOk: [
    { kind: "HeartbeatOk", requestId: 9, command: "none", renewed: [T0 + 45_000] },
    { kind: "HeartbeatOk", requestId: 9, command: "shutdown", renewed: [] },
  ],
  Registered: [{ kind: "Registered", requestId: 10, heartbeatIntervalMs: 15_000 }],
  TaskInfo: [
    { kind: "TaskInfo", requestId: 12, task: completedTask },
    { kind: "TaskInfo", requestId: 12, task: deadTask },
  ],
  TaskList: [
    { kind: "TaskList", requestId: 16, tasks: [deadTask], nextCursor: null },
    { kind: "TaskList", requestId: 16, tasks: [completedTask, deadTask], nextCursor: "c-124" },
  ],
  Stats: [{ kind: "Stats", requestId: 17, json: JSON.stringify(STATS_JSON) }],
  Workers: [{ kind: "Workers", requestId: 18, json: JSON.stringify([WORKER_JSON]) }],
  Pong: [{ kind: "Pong", requestId: 19 }],
  TaskCancelled: [{ kind: "TaskCancelled", requestId: 0, id: TASK_ID, token: 2_871_904_517 }],
  Delivery: [
    {
      kind: "Delivery",
      requestId: 0,
      subscriptionId: 1,
      tasks: [
        {
          id: TASK_ID,
          token: 2_871_904_517,
          expiresAtMs: T0 + 30_200,
          attempts: 0,
          priority: 150,
          queue: "default",
          type: "email.send",
          payloadIsJson: true,
          payload: text('{"to":"a@b.c"}'),
          createdAtMs: T0,
          maxRetries: 3,
        },
      ],
    },
  ],
  ResultBatchOutcome: [
    {
      kind: "ResultBatchOutcome",
      requestId: 20,
      entries: [
        { entry: "ok" },
        { entry: "fail", status: "failed", retryAtMs: T0 + 2000, attempts: 1 },
        { entry: "error", code: 10, retryAfterMs: 0, field: "", message: "task 01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90: lease token 3 is stale" },
      ],
    },
    {
      kind: "ResultBatchOutcome",
      requestId: 21,
      entries: [{ entry: "fail", status: "dead", retryAtMs: null, attempts: 4 }, { entry: "error", code: 8, retryAfterMs: 0, field: "id", message: "no task" }],
    },
  ],
  Error: [
    { kind: "Error", requestId: 2, code: 4, retryAfterMs: 0, field: "tasks[1].queue", message: "tasks[1].queue: \"a b\" is not a queue name" },
    { kind: "Error", requestId: 2, code: 11, retryAfterMs: 1000, field: "", message: "queue full" },
  ],
};

export const ALL_REQUESTS: Request[] = Object.values(REQUEST_SAMPLES).flat() as Request[];
export const ALL_RESPONSES: Response[] = Object.values(RESPONSE_SAMPLES).flat() as Response[];
