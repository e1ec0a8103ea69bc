// Scenario 5: faulty workers against the real broker (child process): a worker that claims and
// never answers, a worker process SIGKILLed mid-task, a poison task that fails every run.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { ClaimedTask, Response } from "../../../src/protocol/messages.ts";
import { RawConn } from "../../helpers/raw-conn.ts";
import { launchBroker, reap, type LaunchedBroker } from "./broker-proc.ts";

const WORKER_CHILD = resolve(import.meta.dir, "worker-child.ts");
const encoder = new TextEncoder();

export const WORKER_BROKER_ENV = {
  TQ_PERSISTENCE_SYNC: "interval",
  TQ_WORKER_HEARTBEAT_INTERVAL_SECS: "0.5",
  // Long grace: a killed worker must be found dead by its missed heartbeats, not by its socket.
  TQ_BROKER_DISCONNECT_GRACE_SECS: "30",
  TQ_BROKER_RETRY_BASE_DELAY_MS: "20",
  TQ_BROKER_RETRY_JITTER: "0",
};

export async function withWorkerBroker<T>(body: (port: number, broker: LaunchedBroker) => Promise<T>): Promise<T> {
  const dataDir = mkdtempSync(join(tmpdir(), "tq-chaos-workers-"));
  const broker = launchBroker({ dataDir, env: WORKER_BROKER_ENV });
  try {
    return await body(await broker.listening(), broker);
  } finally {
    await reap(broker);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function expectKind<K extends Response["kind"]>(r: Response, kind: K): Extract<Response, { kind: K }> {
  if (r.kind !== kind) throw new Error(`expected ${kind}, got ${r.kind === "Error" ? `Error ${r.code}: ${r.message}` : r.kind}`);
  return r as Extract<Response, { kind: K }>;
}

function result(task: { id: string; token: number }, outcome: "completed" | "failed"): Parameters<RawConn["call"]>[0] {
  return { kind: "TaskResult", id: task.id, token: task.token, outcome, resultIsJson: false, result: new Uint8Array(0), error: outcome === "failed" ? "poison" : "" };
}

export interface SilentWorkerReport {
  firstToken: number;
  secondToken: number | null;
  lateResultCode: number | null;
  lateRenewal: (number | null)[];
  secondCompleted: boolean;
  finalStatus: string;
  attempts: number;
  redeliveries: number;
}

/** Worker A claims with a 300 ms lease and never answers; B gets the task after expiry; A's late result must be LeaseLost. */
export async function silentWorker(port: number, rounds: number): Promise<SilentWorkerReport[]> {
  const a = await RawConn.connect(port);
  const b = await RawConn.connect(port);
  const reports: SilentWorkerReport[] = [];
  for (let round = 0; round < rounds; round++) {
    const queue = `silent-${round}`;
    const sub = expectKind(await a.call({ kind: "SubmitTask", task: { type: "t", queue, payload: encoder.encode("{}"), payloadIsJson: true, leaseMs: 300, maxRetries: 3 } }), "Submitted");
    const first = expectKind(await a.call({ kind: "ClaimTask", queues: [queue], max: 1, waitMs: 0 }), "Claimed").tasks[0]!;
    const second = expectKind(await b.call({ kind: "ClaimTask", queues: [queue], max: 1, waitMs: 10_000 }, 15_000), "Claimed").tasks[0] ?? null;
    const late = await a.call(result(first, "completed"));
    const renewal = await a.call({ kind: "RenewLease", leases: [{ id: first.id, token: first.token }] });
    const done = second === null ? null : await b.call(result(second, "completed"));
    const info = expectKind(await a.call({ kind: "QueryStatus", id: sub.id }), "TaskInfo").task;
    // Nothing else may come back: a claim now must be empty.
    const again = expectKind(await b.call({ kind: "ClaimTask", queues: [queue], max: 1, waitMs: 0 }), "Claimed").tasks.length;
    reports.push({
      firstToken: first.token,
      secondToken: second?.token ?? null,
      lateResultCode: late.kind === "Error" ? late.code : null,
      lateRenewal: renewal.kind === "Renewed" ? renewal.expiresAtMs : [-1],
      secondCompleted: done?.kind === "Ack",
      finalStatus: info.status,
      attempts: info.attempts,
      redeliveries: again,
    });
  }
  a.close();
  b.close();
  return reports;
}

export interface KilledWorkerReport {
  /** From SIGKILL to the task in another worker's hands. */
  reclaimMs: number;
  heartbeatMs: number;
  sameTask: boolean;
  attemptsAfter: number;
  childOutput: string;
}

/** A worker process claims, heartbeats, and is SIGKILLed; another worker's blocking claim must get the task. */
export async function killedWorker(port: number, round: number): Promise<KilledWorkerReport> {
  const heartbeatMs = 500;
  const queue = `victim-${round}`;
  const producer = await RawConn.connect(port);
  const sub = expectKind(await producer.call({ kind: "SubmitTask", task: { type: "t", queue, payload: encoder.encode("{}"), payloadIsJson: true, leaseMs: 120_000, maxRetries: 3 } }), "Submitted");
  const child = Bun.spawn([process.execPath, WORKER_CHILD, String(port), queue, String(heartbeatMs), `victim-worker-${round}`], { stdout: "pipe", stderr: "pipe" });
  let out = "";
  const reader = child.stdout.getReader();
  const deadline = Date.now() + 15_000;
  while (!out.includes("CLAIMED") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  if (!out.includes("CLAIMED")) {
    child.kill("SIGKILL");
    throw new Error(`worker child did not claim: ${out}\n${await new Response(child.stderr).text()}`);
  }
  // Let it heartbeat with the lease in flight for a while: the kill lands mid-task.
  await Bun.sleep(heartbeatMs * 2);
  const rescuer = await RawConn.connect(port);
  const killedAt = performance.now();
  child.kill("SIGKILL");
  await child.exited;
  const claimed = expectKind(await rescuer.call({ kind: "ClaimTask", queues: [queue], max: 1, waitMs: 20_000 }, 25_000), "Claimed").tasks[0] as ClaimedTask | undefined;
  const reclaimMs = performance.now() - killedAt;
  if (claimed) await rescuer.call(result(claimed, "completed"));
  const info = expectKind(await producer.call({ kind: "QueryStatus", id: sub.id }), "TaskInfo").task;
  producer.close();
  rescuer.close();
  return { reclaimMs, heartbeatMs, sameTask: claimed?.id === sub.id, attemptsAfter: claimed?.attempts ?? -1, childOutput: `${out}; final ${info.status}` };
}

export interface PoisonReport {
  poisonStatus: string;
  poisonAttempts: number;
  poisonRuns: number;
  normalCompleted: number;
  normalTotal: number;
  /** Normal tasks completed before the poison task was dead: the queue kept moving. */
  completedWhilePoisonAlive: number;
}

/** A poison task (max_retries 2) ahead of `normal` tasks in one queue; the handler fails it every time. */
export async function poisonTask(port: number, normal: number): Promise<PoisonReport> {
  const queue = "poison";
  const conn = await RawConn.connect(port);
  const poison = expectKind(await conn.call({ kind: "SubmitTask", task: { type: "poison", queue, payload: encoder.encode('{"poison":true}'), payloadIsJson: true, priority: 255, maxRetries: 2 } }), "Submitted");
  const batch = expectKind(
    await conn.call({ kind: "SubmitBatch", tasks: Array.from({ length: normal }, (_, i) => ({ type: "ok", queue, payload: encoder.encode(`{"i":${i}}`), payloadIsJson: true, priority: 255 })) }),
    "SubmittedBatch",
  );
  let poisonRuns = 0;
  let normalCompleted = 0;
  let completedWhilePoisonAlive = 0;
  let poisonDead = false;
  // Bounded: each round claims at least once; 2,000 rounds is far past what the work needs.
  for (let round = 0; round < 2000 && (normalCompleted < normal || !poisonDead); round++) {
    const tasks = expectKind(await conn.call({ kind: "ClaimTask", queues: [queue], max: 2, waitMs: 200 }, 5000), "Claimed").tasks;
    for (const task of tasks) {
      if (task.id === poison.id) {
        poisonRuns++;
        const outcome = await conn.call(result(task, "failed"));
        if (outcome.kind === "FailOutcome" && outcome.status === "dead") poisonDead = true;
      } else {
        expectKind(await conn.call(result(task, "completed")), "Ack");
        normalCompleted++;
        if (!poisonDead) completedWhilePoisonAlive++;
      }
    }
  }
  const info = expectKind(await conn.call({ kind: "QueryStatus", id: poison.id }), "TaskInfo").task;
  conn.close();
  return { poisonStatus: info.status, poisonAttempts: info.attempts, poisonRuns, normalCompleted, normalTotal: batch.outcomes.length, completedWhilePoisonAlive };
}
