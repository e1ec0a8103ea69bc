// Replies that would pass the 16 MiB frame limit (found by the codec fuzzer): a ListTasks page or
// a batch claim over tasks with 1 MiB payloads. The broker must answer something (an error or a
// shorter page) and keep the connection usable, and leave no task leased to nobody.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Response } from "../../../src/protocol/messages.ts";
import { RawConn } from "../../helpers/raw-conn.ts";
import { launchBroker, reap } from "./broker-proc.ts";

export interface OversizeReport {
  /** What the big request got: a response kind, "Error <code>", or "no reply". */
  answer: string;
  /** Tasks in the reply, when it had any. */
  tasksInReply: number;
  /** A Ping on the same connection afterwards: "Pong" or "no reply". */
  pingAfter: string;
  /** Tasks in_progress that no reply handed to anyone (claim case). */
  leasedButUndelivered: number;
}

function describe(r: Response | null): string {
  if (r === null) return "no reply";
  return r.kind === "Error" ? `Error ${r.code}` : r.kind;
}

/** Submits `tasks` tasks of 1 MiB, then sends one request whose full answer is about tasks x 1 MiB. */
export async function oversizeReply(kind: "ListTasks" | "ClaimTask", tasks: number): Promise<OversizeReport> {
  const dataDir = mkdtempSync(join(tmpdir(), "tq-chaos-oversize-"));
  const broker = launchBroker({ dataDir, env: { TQ_PERSISTENCE_SYNC: "interval", TQ_BROKER_MAX_BATCH_CLAIM: String(tasks) } });
  try {
    const conn = await RawConn.connect(await broker.listening());
    for (let i = 0; i < tasks; i++) {
      const r = await conn.call({ kind: "SubmitTask", task: { type: "big", queue: "big", payload: new Uint8Array(1024 * 1024), payloadIsJson: false, leaseMs: 600_000 } });
      if (r.kind !== "Submitted") throw new Error(`setup submit answered ${describe(r)}`);
    }
    const sent = kind === "ListTasks" ? conn.call({ kind: "ListTasks", queue: "big", limit: tasks }, 10_000) : conn.call({ kind: "ClaimTask", queues: ["big"], max: tasks, waitMs: 0 }, 10_000);
    const answer = await sent.catch(() => null);
    const tasksInReply = answer?.kind === "TaskList" || answer?.kind === "Claimed" ? answer.tasks.length : 0;
    const ping = await conn.call({ kind: "Ping" }, 3000).catch(() => null);
    const other = await RawConn.connect(await broker.listening());
    const stats = await other.call({ kind: "GetStats" });
    const inProgress = stats.kind === "Stats" ? ((JSON.parse(stats.json) as { tasks: { inProgress: number } }).tasks.inProgress ?? 0) : -1;
    other.close();
    conn.close();
    return { answer: describe(answer), tasksInReply, pingAfter: describe(ping), leasedButUndelivered: kind === "ClaimTask" ? inProgress - tasksInReply : 0 };
  } finally {
    await reap(broker);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
