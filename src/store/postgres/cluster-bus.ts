// How the brokers of one cluster hear of each other's commits: a NOTIFY in the committing
// transaction (delivered only if it commits) carrying what became ready (queue, count) and what
// finished (ids, and a cancelled run's lease so its worker's broker can tell it) and which queues
// were paused or resumed, an operator's command for a worker another broker serves, and, since
// notifications are lost while a listener reconnects, a slow poll of the queues holding ready tasks.

import type { SQL } from "bun";
import { WORKER_COMMAND_BYTE, type WorkerCommand } from "../../protocol/wire-values.ts";
import type { TaskEnd } from "../store.ts";
import type { TxNotes } from "./pg-group.ts";

/** PostgreSQL refuses payloads of 8000 bytes or more; chunks stay well under. */
const MAX_PAYLOAD_CHARS = 7500;

const STATUS_CODE = { completed: "c", dead: "d", cancelled: "x" } as const;
const STATUS_OF: Record<string, TaskEnd["status"]> = { c: "completed", d: "dead", x: "cancelled" };

/** One notification: who sent it (so its sender ignores it), ready counts, finished tasks. */
interface Message {
  o: string;
  r?: [string, number][];
  /** [id, status code, queue] or, for a cancelled run, [id, "x", queue, token, workerId]. */
  f?: (string | number)[][];
  /** Queues paused (1) or resumed (0). */
  p?: [string, number][];
  /** An operator's commands for workers: [worker id, command, node id of the broker to apply it]. */
  w?: [string, string, string][];
}

/** An operator's command for a worker, addressed to the broker (node id) that serves it. */
export interface ForwardedCommand {
  workerId: string;
  command: Exclude<WorkerCommand, "none">;
  nodeId: string;
}

/** Every worker command but "none": what an operator may send. */
const FORWARDED_COMMANDS: readonly string[] = Object.keys(WORKER_COMMAND_BYTE).filter((c) => c !== "none");

/** The channel of one schema's cluster (several clusters may share a database). */
export function channelOf(schema: string): string {
  return `tq_events_${schema}`;
}

/** The payloads announcing what `notes` made true, each under the size limit; none when there is nothing to say. */
export function encodeNotes(instance: string, notes: TxNotes): string[] {
  const out: string[] = [];
  let current: Message = { o: instance };
  let size = 0;
  const push = (): void => {
    out.push(JSON.stringify(current));
    current = { o: instance };
    size = 0;
  };
  for (const [queue, count] of notes.ready) {
    const part: [string, number] = [queue, count];
    const cost = JSON.stringify(part).length + 1;
    if (size + cost > MAX_PAYLOAD_CHARS) push();
    (current.r ??= []).push(part);
    size += cost;
  }
  for (const end of notes.ends) {
    const part: (string | number)[] = [end.id, STATUS_CODE[end.status], end.queue];
    if (end.endedLease !== undefined) part.push(end.endedLease.token, end.endedLease.workerId);
    const cost = JSON.stringify(part).length + 1;
    if (size + cost > MAX_PAYLOAD_CHARS) push();
    (current.f ??= []).push(part);
    size += cost;
  }
  for (const [queue, paused] of notes.pauses) {
    const part: [string, number] = [queue, paused ? 1 : 0];
    const cost = JSON.stringify(part).length + 1;
    if (size + cost > MAX_PAYLOAD_CHARS) push();
    (current.p ??= []).push(part);
    size += cost;
  }
  if (current.r !== undefined || current.f !== undefined || current.p !== undefined) push();
  return out;
}

/** The payload carrying one operator's command to the broker serving the worker (sent outside any transaction). */
export function encodeWorkerCommand(instance: string, forwarded: ForwardedCommand): string {
  const message: Message = { o: instance, w: [[forwarded.workerId, forwarded.command, forwarded.nodeId]] };
  return JSON.stringify(message);
}

export interface Decoded {
  from: string;
  ready: [string, number][];
  ends: TaskEnd[];
  pauses: [string, boolean][];
  commands: ForwardedCommand[];
}

/** A payload read back; null for one that is not ours (another program on the channel). */
export function decodeNotes(payload: string): Decoded | null {
  let message: Message;
  try {
    message = JSON.parse(payload) as Message;
  } catch {
    return null;
  }
  if (typeof message?.o !== "string") return null;
  const ready = (message.r ?? []).filter((p) => typeof p?.[0] === "string" && typeof p[1] === "number");
  const ends: TaskEnd[] = [];
  for (const p of message.f ?? []) {
    const status = STATUS_OF[String(p?.[1])];
    if (status === undefined || typeof p[0] !== "string" || typeof p[2] !== "string") continue;
    const end: TaskEnd = { id: p[0], queue: p[2], status };
    if (typeof p[3] === "number" && typeof p[4] === "string") end.endedLease = { token: p[3], workerId: p[4] };
    ends.push(end);
  }
  const pauses = (message.p ?? []).filter((p) => typeof p?.[0] === "string").map((p): [string, boolean] => [p[0], p[1] === 1]);
  const commands: ForwardedCommand[] = [];
  for (const w of message.w ?? []) {
    if (typeof w?.[0] !== "string" || typeof w[2] !== "string" || !FORWARDED_COMMANDS.includes(String(w[1]))) continue;
    commands.push({ workerId: w[0], command: w[1] as ForwardedCommand["command"], nodeId: w[2] });
  }
  return { from: message.o, ready, ends, pauses, commands };
}

/** Sends the notifications inside `tx`: delivered to every listener when it commits, never if it rolls back. */
export async function notifyInTx(tx: SQL, channel: string, payloads: readonly string[]): Promise<void> {
  if (payloads.length === 0) return;
  await tx`SELECT pg_notify(${channel}, p) FROM unnest(${payloads}::text[]) AS p`;
}

/** Per queue holding ready tasks, how many (capped: enough for claims to ask, cheap on a deep queue). */
export async function readyQueues(sql: SQL, cap: number): Promise<[string, number][]> {
  // Distinct queues by walking the ready index (a loose index scan), then a capped count each.
  const rows = (await sql`
    WITH RECURSIVE q AS (
      (SELECT queue FROM tasks WHERE status = 'pending' ORDER BY queue LIMIT 1)
      UNION ALL
      SELECT (SELECT t.queue FROM tasks t WHERE t.status = 'pending' AND t.queue > q.queue ORDER BY t.queue LIMIT 1)
      FROM q WHERE q.queue IS NOT NULL
    )
    SELECT q.queue, (SELECT count(*) FROM (SELECT 1 FROM tasks t WHERE t.status = 'pending' AND t.queue = q.queue LIMIT ${cap}) s)::int AS n
    FROM q WHERE q.queue IS NOT NULL`) as { queue: string; n: number }[];
  return rows.map((r) => [r.queue, r.n]);
}
