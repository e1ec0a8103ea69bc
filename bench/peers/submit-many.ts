// W1 through the SDK's Client.submitMany, as issue 22's W1 target words it: a fresh broker (sync
// full, spawned as `tq-broker bench --spawn` spawns it), N untimed tasks to warm it, then N timed,
// submitted as lists of LIST tasks with WINDOW lists in flight (default one call of all N). Prints
// one JSON line: tasks/s and the broker's CPU per task over the timed part. Run it alternately
// with `npm run bench:peers -- --workload W1 --runs 1` for same-minutes beanstalkd figures.
// Usage: bun bench/peers/submit-many.ts [LIST=100000] [WINDOW=1] [N=100000]

import { readFileSync } from "node:fs";
import { spawnBroker } from "../../src/bench/spawn-broker.ts";
import { Client } from "../../src/client/client.ts";

const N = Number(process.argv[4] ?? 100_000);
const LIST = Number(process.argv[2] ?? N);
const WINDOW = Number(process.argv[3] ?? 1);
const payload = new Uint8Array(100).fill(0x61);

/** User + system CPU of `pid` in ms (/proc/PID/stat, 10 ms ticks). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const broker = await spawnBroker({ sync: "full", queueDepthThreshold: 10_000_000, maxBatchClaim: null });
try {
  const client = new Client({ url: `tq://${broker.host}:${broker.port}`, env: {} });
  await client.connect();
  const load = async (queue: string): Promise<number> => {
    const t0 = performance.now();
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < N) {
        const n = Math.min(LIST, N - next);
        next += n;
        await client.submitMany(Array.from({ length: n }, () => ({ type: "bench.noop", payload, queue })));
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, lane));
    return performance.now() - t0;
  };
  await load("warm-up");
  const before = cpuMs(broker.pid);
  const ms = await load("timed");
  const after = cpuMs(broker.pid);
  console.log(JSON.stringify({ tasks: N, list: LIST, window: WINDOW, tasksPerSec: Math.round(N / (ms / 1000)), brokerCpuUsPerTask: +(((after - before) * 1000) / N).toFixed(1) }));
  await client.close();
} finally {
  await broker.stop();
}
