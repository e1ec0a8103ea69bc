// Worker process for scenario 5: registers, heartbeats every <hbMs> with its lease in flight, claims
// one task, prints "CLAIMED <id> <token>", never answers; exits by itself after 60 s (no orphans).
// Usage: bun worker-child.ts <port> <queue> <hbMs> <workerId>

import type { LeaseRef } from "../../../src/protocol/messages.ts";
import { RawConn } from "../../helpers/raw-conn.ts";

const [portArg, queue, hbArg, workerId] = process.argv.slice(2);
if (!portArg || !queue || !hbArg || !workerId) throw new Error("usage: worker-child.ts <port> <queue> <hbMs> <workerId>");
setTimeout(() => process.exit(3), 60_000).unref();
const conn = await RawConn.connect(Number(portArg));
const registered = await conn.call({ kind: "RegisterWorker", workerId, hostname: "chaos", pid: process.pid, queues: [queue], concurrency: 1, version: "chaos", labels: [] });
if (registered.kind !== "Registered") throw new Error(`register answered ${registered.kind}`);
const inFlight: LeaseRef[] = [];
const heartbeat = async (): Promise<void> => {
  for (let beat = 0; beat < 10_000; beat++) {
    await conn.call({ kind: "Heartbeat", workerId, cpuPercent: 1, memoryMb: 1, inFlight });
    await Bun.sleep(Number(hbArg));
  }
};
void heartbeat();
const claimed = await conn.call({ kind: "ClaimTask", queues: [queue], max: 1, waitMs: 10_000 }, 15_000);
if (claimed.kind !== "Claimed" || claimed.tasks.length !== 1) throw new Error(`claim answered ${JSON.stringify(claimed)}`);
const task = claimed.tasks[0]!;
inFlight.push({ id: task.id, token: task.token });
process.stdout.write(`CLAIMED ${task.id} ${task.token}\n`);
