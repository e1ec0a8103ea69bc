// Producers, workers and the final read-back of a chaos run, speaking the raw protocol through
// RawConn and recording every operation in a History. Each task's payload carries a unique key
// so a delivery is tied to its submit even when the submit's reply was lost.

import type { ClaimedTask, TaskInfo, TaskSpec } from "../../../src/protocol/messages.ts";
import { ErrorCode } from "../../../src/protocol/errors.ts";
import { RawConn } from "../../helpers/raw-conn.ts";
import { launchBroker, reap } from "./broker-proc.ts";
import type { CheckResult, FinalTask, History, HolderLease } from "./history.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function keyedSpec(queue: string, key: string, leaseMs: number, priority: number): TaskSpec {
  return { type: "chaos", queue, payload: encoder.encode(JSON.stringify({ k: key })), payloadIsJson: true, leaseMs, priority, maxRetries: 5 };
}

export function keyOf(task: { payload: Uint8Array }): string | null {
  try {
    const parsed = JSON.parse(decoder.decode(task.payload)) as { k?: unknown };
    return typeof parsed.k === "string" ? parsed.k : null;
  } catch {
    return null;
  }
}

export interface LoadControl {
  /** Set to stop the loops after their current request. */
  stop: boolean;
}

/** Submits batches of keyed tasks until stopped or the connection dies; every key gets an outcome. */
export async function produce(
  conn: RawConn,
  history: History,
  options: {
    queue: string;
    prefix: string;
    leaseMs: number;
    random: () => number;
    control: LoadControl;
    maxBatches: number;
    /** Each task's max_retries (default 5). */
    maxRetries?: number;
    /** Error codes whose submit may have happened anyway (PostgreSQL: StorageUnavailable after COMMIT was sent). */
    ambiguousCodes?: readonly number[];
  },
): Promise<void> {
  for (let batch = 0; batch < options.maxBatches && !options.control.stop && !conn.closed; batch++) {
    const size = 1 + Math.floor(options.random() * 20);
    const keys = Array.from({ length: size }, (_, i) => `${options.prefix}-${batch}-${i}`);
    for (const key of keys) history.submitInvoked(key);
    const tasks = keys.map((key) => ({ ...keyedSpec(options.queue, key, options.leaseMs, Math.floor(options.random() * 256)), ...(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }) }));
    let response;
    try {
      response = await conn.call({ kind: "SubmitBatch", tasks }, 10_000);
    } catch {
      for (const key of keys) history.submitEnded(key, "unknown");
      return;
    }
    if (response.kind === "SubmittedBatch") {
      response.outcomes.forEach((o, i) => history.submitOk(keys[i]!, o.id));
    } else {
      // Internal means "may or may not have happened"; every other error frame is definite.
      if (response.kind === "Error" && response.code !== 255 && !(options.ambiguousCodes ?? []).includes(response.code)) for (const key of keys) history.submitEnded(key, "failed", response.code);
      else for (const key of keys) history.submitEnded(key, "unknown");
      if (response.kind === "Error" && (response.code === 13 || response.code === 11)) await Bun.sleep(50);
    }
  }
}

/** Claims and completes until stopped or the connection dies; holds some leases open when `holdFraction` > 0. */
export async function work(
  conn: RawConn,
  history: History,
  options: { queue: string; random: () => number; control: LoadControl; holdFraction: number; maxClaims: number; onIdle?: () => void; holder?: (claimWallMs: number) => HolderLease },
): Promise<void> {
  for (let round = 0; round < options.maxClaims && !options.control.stop && !conn.closed; round++) {
    const at = history.claimInvoked();
    const lease = options.holder?.(Date.now());
    let response;
    try {
      response = await conn.call({ kind: "ClaimTask", queues: [options.queue], max: 10, waitMs: 100 }, 10_000);
    } catch {
      return;
    }
    if (response.kind !== "Claimed") {
      await Bun.sleep(20);
      continue;
    }
    if (response.tasks.length === 0) options.onIdle?.();
    for (const task of response.tasks) history.delivered(keyOf(task) ?? `?${task.id}`, task.id, task.token, at, lease);
    const finishing = response.tasks.filter(() => options.random() >= options.holdFraction);
    await Promise.all(finishing.map((task) => completeOne(conn, history, task)));
  }
}

async function completeOne(conn: RawConn, history: History, task: ClaimedTask): Promise<void> {
  const op = history.completeInvoked(task.id, task.token);
  try {
    const response = await conn.call(
      { kind: "TaskResult", id: task.id, token: task.token, outcome: "completed", resultIsJson: false, result: new Uint8Array(0), error: "" },
      10_000,
    );
    if (response.kind === "Ack") history.completeEnded(op, "ok");
    else if (response.kind === "Error" && response.code !== 255) history.completeEnded(op, "failed", response.code);
    else history.completeEnded(op, "unknown");
  } catch {
    history.completeEnded(op, "unknown");
  }
}

/** What a broker answered to results sent with lease tokens of an incarnation that died. */
export interface StaleResults {
  sent: number;
  leaseLost: number;
  /** Anything but LeaseLost, as "<key>: <reply>". */
  other: string[];
}

/**
 * Sends a completed TaskResult for each lease of a dead incarnation, before anyone claims in this
 * one: the row is still there (a claim hands out only committed rows, and a process crash keeps
 * them) and its lease died with the process, so each must get LeaseLost and change nothing.
 */
export async function sendStaleResults(conn: RawConn, leases: readonly { key: string; id: string; token: number }[], into: StaleResults): Promise<void> {
  for (const lease of leases) {
    into.sent++;
    let reply: string;
    try {
      const response = await conn.call(
        { kind: "TaskResult", id: lease.id, token: lease.token, outcome: "completed", resultIsJson: false, result: new Uint8Array(0), error: "" },
        10_000,
      );
      if (response.kind === "Error" && response.code === ErrorCode.LeaseLost) {
        into.leaseLost++;
        continue;
      }
      reply = response.kind === "Error" ? `error ${response.code}` : response.kind;
    } catch {
      // The broker died under the probe (a named kill can land here): no answer, nothing learnt.
      into.sent--;
      return;
    }
    into.other.push(`${lease.key}: ${reply}`);
  }
}

/** Every task of the queue as stored now, page by page (bounded). */
export async function readAll(conn: RawConn, queue: string): Promise<FinalTask[]> {
  const all: FinalTask[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const response = await conn.call({ kind: "ListTasks", queue, limit: 1000, ...(cursor === undefined ? {} : { cursor }) }, 30_000);
    if (response.kind !== "TaskList") throw new Error(`ListTasks answered ${response.kind}: ${JSON.stringify(response)}`);
    for (const t of response.tasks as TaskInfo[]) all.push({ id: t.id, key: keyOf(t), status: t.status });
    if (response.nextCursor === null) return all;
    cursor = response.nextCursor;
  }
  throw new Error("ListTasks did not end within 10,000 pages");
}

/** Pending + scheduled + in-progress tasks of one queue, from GetStats. */
export async function unfinishedCount(conn: RawConn, queue: string): Promise<number> {
  const response = await conn.call({ kind: "GetStats" });
  if (response.kind !== "Stats") throw new Error(`GetStats answered ${response.kind}`);
  const stats = JSON.parse(response.json) as { tasks: { queues: { queue: string; pending: { high: number; normal: number; low: number }; scheduled: number; inProgress: number }[] } };
  const q = stats.tasks.queues.find((x) => x.queue === queue);
  if (!q) return 0;
  return q.pending.high + q.pending.normal + q.pending.low + q.scheduled + q.inProgress;
}

/** Connects, retrying while the port is not accepting yet (bounded). */
export async function connectRetry(port: number, attempts = 50): Promise<RawConn> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await RawConn.connect(port);
    } catch (err) {
      last = err;
      await Bun.sleep(20);
    }
  }
  throw new Error(`could not connect to 127.0.0.1:${port}: ${String(last)}`);
}

/**
 * Starts the broker once more on `dataDir`, lets `workers` connections claim and complete until
 * the queue "chaos" has nothing unfinished (at most 60 s), reads every stored task, stops the
 * broker with SIGTERM and runs the checker.
 */
export async function drainAndCheck(dataDir: string, env: Record<string, string>, history: History, random: () => number, workers: number): Promise<{ check: CheckResult; exitCode: number; output: string }> {
  const broker = launchBroker({ dataDir, env });
  try {
    const port = await broker.listening();
    const admin = await connectRetry(port);
    const conns = await Promise.all(Array.from({ length: workers }, () => connectRetry(port)));
    const control: LoadControl = { stop: false };
    const loops = conns.map((conn) => work(conn, history, { queue: "chaos", random, control, holdFraction: 0, maxClaims: 1_000_000 }));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && (await unfinishedCount(admin, "chaos")) > 0) await Bun.sleep(100);
    control.stop = true;
    await Promise.all(loops);
    const check = history.check(await readAll(admin, "chaos"));
    for (const conn of [admin, ...conns]) conn.close();
    broker.proc.kill("SIGTERM");
    const exitCode = await broker.exited;
    return { check, exitCode, output: broker.output() };
  } finally {
    await reap(broker);
  }
}
