// Child process for the crash test: submits and completes tasks under load against one database
// file and reports on stdout each operation the store acknowledged, until it is SIGKILLed.
// Lines: "I <n>" (about to submit key k<n>), "S <n> <id>" (submit acked), "C <id>" (complete acked).
// Usage: bun test/helpers/crash-child.ts <db path> <first key number>

import { writeSync } from "node:fs";
import { openSqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { claim, complete } from "./store-ops.ts";

const [path, firstArg] = process.argv.slice(2);
if (path === undefined || firstArg === undefined) throw new Error("usage: crash-child.ts <db path> <first key number>");
let next = Number(firstArg);
const store = openSqliteStore({ path, sync: "full" });
const payload = new TextEncoder().encode('{"crash":"test"}');
// A blocking write: "I <n>" must be in the pipe before the submit can commit, or a kill could
// leave a committed row whose intent the parent never read (process.stdout.write is asynchronous).
const out = (line: string): void => {
  writeSync(1, `${line}\n`);
};

async function producer(): Promise<void> {
  for (let round = 0; round < 1_000_000; round++) {
    const keys = Array.from({ length: 1 + (round % 20) }, () => next++);
    for (const n of keys) out(`I ${n}`);
    const outcomes = await store.submit(
      keys.map((n) => ({ type: "crash", queue: "q", payload, payloadIsJson: true, priority: n % 256, runAtMs: null, maxRetries: 3, leaseMs: 60_000, idempotencyKey: `k${n}` })),
      Date.now(),
    );
    outcomes.forEach((o, i) => out(`S ${keys[i]} ${o.id}`));
  }
}

async function consumer(workerId: string): Promise<void> {
  for (let round = 0; round < 1_000_000; round++) {
    const leases = await claim(store, { queues: ["q"], workerId, max: 10, nowMs: Date.now() });
    if (leases.length === 0) {
      await new Promise((r) => setImmediate(r));
      continue;
    }
    // Leave some leases open so a kill catches tasks in progress.
    const finishing = round % 5 === 0 ? leases.slice(1) : leases;
    await Promise.all(
      finishing.map(async (l) => {
        await complete(store, { id: l.task.id, token: l.token }, { result: payload, resultIsJson: true }, Date.now());
        out(`C ${l.task.id}`);
      }),
    );
  }
}

out("READY");
await Promise.all([producer(), producer(), producer(), consumer("w1"), consumer("w2")]);
