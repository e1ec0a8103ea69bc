// A worker process of the cluster scenario, there to be killed with -9: claims and completes on one
// broker until its connection dies, writing each step as a JSON line with a synchronous write (so a
// line is either whole in the pipe before the step happens, or absent) for the parent's History.
// Exits by itself when its broker goes away or after <lifetimeMs> (no orphans).
// Usage: bun cluster-worker-child.ts <port> <queue> <holdFraction> <seed> <lifetimeMs>

import { writeSync } from "node:fs";
import { RawConn } from "../../helpers/raw-conn.ts";
import { keyOf } from "./queue-load.ts";
import { seededRandom } from "./tier.ts";

const [portArg, queue, holdArg, seedArg, lifetimeArg] = process.argv.slice(2);
if (!portArg || !queue || !holdArg || !seedArg || !lifetimeArg) throw new Error("usage: cluster-worker-child.ts <port> <queue> <holdFraction> <seed> <lifetimeMs>");
setTimeout(() => process.exit(3), Number(lifetimeArg)).unref();
const random = seededRandom(Number(seedArg));
const holdFraction = Number(holdArg);

/**
 * One event for the parent: claim (before sending, stamped with this clock: a lease starts after
 * it), del (a task received, stamped: its lease was granted before), ci (before a result is
 * sent), co (its outcome). The parent may read a line late; the stamps are not.
 */
function emit(event: Record<string, unknown>): void {
  writeSync(1, `${JSON.stringify(event)}\n`);
}

let conn: RawConn;
try {
  conn = await RawConn.connect(Number(portArg));
} catch {
  process.exit(0);
}
emit({ e: "up" });

async function complete(task: { id: string; token: number }): Promise<void> {
  emit({ e: "ci", id: task.id, t: task.token });
  try {
    const r = await conn.call({ kind: "TaskResult", id: task.id, token: task.token, outcome: "completed", resultIsJson: false, result: new Uint8Array(0), error: "" }, 10_000);
    // StorageUnavailable may come after COMMIT was sent (outcome unknown); Internal may have happened too.
    if (r.kind === "Ack") emit({ e: "co", id: task.id, t: task.token, o: "ok" });
    else if (r.kind === "Error" && r.code !== 13 && r.code !== 255) emit({ e: "co", id: task.id, t: task.token, o: "failed", c: r.code });
    else emit({ e: "co", id: task.id, t: task.token, o: "unknown" });
  } catch {
    emit({ e: "co", id: task.id, t: task.token, o: "unknown" });
  }
}

// Bounded by the lifetime timer; each round is one claim.
for (let round = 0; round < 10_000_000 && !conn.closed; round++) {
  emit({ e: "claim", at: Date.now() });
  let r;
  try {
    r = await conn.call({ kind: "ClaimTask", queues: [queue], max: 10, waitMs: 100 }, 10_000);
  } catch {
    break;
  }
  if (r.kind !== "Claimed") {
    await Bun.sleep(50);
    continue;
  }
  const at = Date.now();
  for (const task of r.tasks) emit({ e: "del", k: keyOf(task) ?? `?${task.id}`, id: task.id, t: task.token, at });
  await Promise.all(r.tasks.filter(() => random() >= holdFraction).map(complete));
}
process.exit(0);
