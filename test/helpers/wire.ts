// Small typed wrappers over RawConn for e2e tests: one call per protocol verb, failing loudly
// when the broker answers with something other than the expected response.

import type { ClaimedTask, Response, ResponseOf, TaskInfo, TaskSpec } from "../../src/protocol/messages.ts";
import type { RawConn } from "./raw-conn.ts";

export function expectKind<K extends Response["kind"]>(response: Response, kind: K): ResponseOf<K> {
  if (response.kind !== kind) {
    const detail = response.kind === "Error" ? `Error ${response.code} (${response.field}): ${response.message}` : response.kind;
    throw new Error(`expected ${kind}, got ${detail}`);
  }
  return response as ResponseOf<K>;
}

export function spec(type: string, fields: Partial<TaskSpec> = {}): TaskSpec {
  return { type, queue: "default", payload: new TextEncoder().encode(JSON.stringify({ type })), payloadIsJson: true, ...fields };
}

export async function submit(conn: RawConn, task: TaskSpec): Promise<string> {
  return expectKind(await conn.call({ kind: "SubmitTask", task }), "Submitted").id;
}

export async function claim(conn: RawConn, options: { queues?: string[]; max?: number; waitMs?: number } = {}): Promise<ClaimedTask[]> {
  const response = await conn.call(
    { kind: "ClaimTask", queues: options.queues ?? ["default"], max: options.max ?? 1, waitMs: options.waitMs ?? 0 },
    (options.waitMs ?? 0) + 5000,
  );
  return expectKind(response, "Claimed").tasks;
}

export async function complete(conn: RawConn, task: { id: string; token: number }, result = "done"): Promise<Response> {
  return conn.call({
    kind: "TaskResult",
    id: task.id,
    token: task.token,
    outcome: "completed",
    resultIsJson: false,
    result: new TextEncoder().encode(result),
    error: "",
  });
}

export async function fail(conn: RawConn, task: { id: string; token: number }, error: string, unrecoverable = false): Promise<Response> {
  return conn.call({
    kind: "TaskResult",
    id: task.id,
    token: task.token,
    outcome: unrecoverable ? "unrecoverable" : "failed",
    resultIsJson: false,
    result: new Uint8Array(0),
    error,
  });
}

export async function status(conn: RawConn, id: string): Promise<TaskInfo> {
  return expectKind(await conn.call({ kind: "QueryStatus", id }), "TaskInfo").task;
}

export async function stats(conn: RawConn): Promise<Record<string, any>> {
  return JSON.parse(expectKind(await conn.call({ kind: "GetStats" }), "Stats").json);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true or the time runs out; for effects driven by background timers. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5000, stepMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
}
