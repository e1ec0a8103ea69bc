// What the bench orchestrator and its agent processes say to each other: the jobs (one JSON spec
// a line on stdin), the control words between them, and the report lines (JSON on stdout).
// Types and tiny helpers only; no sockets and no workload logic.

/** Submits `n` tasks in batches with `window` SubmitBatch frames in flight. */
export interface ProducerSpec {
  role: "producer";
  host: string;
  port: number;
  queue: string;
  n: number;
  payloadBytes: number;
  batch: number;
  window: number;
  recordIds: boolean;
  /** The agent gives up (reports and exits) after this long: every bench loop is bounded. */
  deadlineMs: number;
  /** Set: submit through the gRPC front door on this port (bench --front grpc). */
  grpcPort?: number;
}

/**
 * Consumes the queue with a no-op handler. "sdk": the SDK's Worker with `lanes` as its
 * concurrency and `prefetch` (null = its default). "raw": `lanes` claim loops, each on its own
 * connection: claim up to `batch`, complete them in one TaskResultBatch.
 */
export interface WorkerSpec {
  role: "worker";
  consumer: "sdk" | "raw";
  host: string;
  port: number;
  queue: string;
  lanes: number;
  prefetch: number | null;
  batch: number;
  waitMs: number;
  /** Tasks are in the queue before "go" (W2): the SDK worker starts after it, its start timed. */
  preloaded: boolean;
  recordIds: boolean;
  /** Read the submit time the paced producer put in each payload and record handler-start latency. */
  recordLatency: boolean;
  deadlineMs: number;
  /** Set: work through the gRPC worker stream on this port (bench --front grpc). */
  grpcPort?: number;
}

/** One SubmitTask at a time on a fixed schedule of `ratePerSec`, `count` tasks (W4). */
export interface PacedProducerSpec {
  role: "paced-producer";
  host: string;
  port: number;
  queue: string;
  ratePerSec: number;
  count: number;
  payloadBytes: number;
  deadlineMs: number;
}

export type AgentSpec = ProducerSpec | WorkerSpec | PacedProducerSpec;

/** Error responses counted by error name (or "connection" when the socket failed). */
export type ErrorCounts = Record<string, number>;

export interface ProducerReport {
  event: "done";
  role: "producer" | "paced-producer";
  submitted: number;
  /** Epoch ms (sub-ms precision) of the first submit sent and of the last ack received. */
  firstSendMs: number;
  lastAckMs: number;
  errors: ErrorCounts;
  ids: string[];
  /** Which job of its agent process this was: 1 for a fresh process, more for a warmed one. */
  job: number;
  /** The agent's user + system CPU seconds over this job: shows whether the load side kept up. */
  cpuSecs: number;
}

export interface WorkerReport {
  event: "done";
  role: "worker";
  completed: number;
  firstClaimMs: number;
  lastCompleteMs: number;
  errors: ErrorCounts;
  ids: string[];
  /** Submit -> handler start, ms, one per task (W4 only). */
  latenciesMs: number[];
  job: number;
  cpuSecs: number;
}

export type AgentReport = ProducerReport | WorkerReport;

/** What a role returns: the agent adds the job's number and CPU time. */
export type JobResult<R extends AgentReport> = Omit<R, "job" | "cpuSecs">;

export type AgentLine =
  | { event: "ready" }
  | { event: "progress"; done: number }
  | AgentReport
  | { event: "failed"; message: string };

/** Control words the orchestrator writes to an agent's stdin, one a line, between job specs. */
export const CONTROL = { go: "go", stop: "stop" } as const;

/**
 * Wall-clock ms with sub-ms precision, comparable across processes on one machine (W4 measures
 * submit in one process and handler start in another). Bun's hrtime counts from process start,
 * so it cannot serve here.
 */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

export function countError(errors: ErrorCounts, name: string): void {
  errors[name] = (errors[name] ?? 0) + 1;
}

/** User + system CPU seconds this process has used so far. */
export function ownCpuSecs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}
