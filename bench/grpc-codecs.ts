// Interleaved A/B of the gRPC door's hand-written codecs (src/grpc/submit-codec.ts,
// work-codec.ts) against proto-loader's reflection functions they stand in for (STYLE.md: a speed
// device stays only with a gain beyond the noise): each message of the hot paths as the bench
// and the broker send it — SubmitBatch of 100 tasks of 100 B and its outcomes (both sides), a
// delivery of 200 tasks, a report of 200 results and its ack (the broker's side) — proto-loader then
// hand-written, pair after pair in one process; prints µs per message and the median ratio.
// Usage: bun bench/grpc-codecs.ts [--pairs 10]

import type { MethodDefinition } from "@grpc/proto-loader";
import { fastBrokerService } from "../src/grpc/fast-service.ts";
import { protoDefinitions } from "../src/grpc/proto-files.ts";

const pairsArg = process.argv.indexOf("--pairs");
const PAIRS = pairsArg > 0 ? Number(process.argv[pairsArg + 1]) : 10;
const ROUNDS = 300;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function timed(f: () => unknown): number {
  const t = performance.now();
  for (let i = 0; i < ROUNDS; i++) f();
  return ((performance.now() - t) * 1000) / ROUNDS;
}

function ab(name: string, plain: () => unknown, fast: () => unknown): void {
  timed(plain);
  timed(fast);
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < PAIRS; i++) {
    a.push(timed(plain));
    b.push(timed(fast));
  }
  const ratios = a.map((x, i) => b[i]! / x);
  const sorted = [...ratios].sort((x, y) => x - y);
  console.log(
    `${name}: proto-loader ${median(a).toFixed(1)} µs, hand-written ${median(b).toFixed(1)} µs, hand/proto-loader median ${median(ratios).toFixed(2)} (range ${sorted[0]!.toFixed(2)}-${sorted[sorted.length - 1]!.toFixed(2)}, ${PAIRS} pairs)`,
  );
}

type Method = MethodDefinition<unknown, unknown>;
const plain = protoDefinitions()["tq.v1.Broker"] as unknown as Record<string, Method>;
const fast = fastBrokerService(protoDefinitions());

const payload = Buffer.alloc(100, 0x61);
const id = "01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90";
const now = Date.now();
const submit = { tasks: Array.from({ length: 100 }, () => ({ type: "bench.noop", queue: "bench", payload })) };
const outcomes = { outcomes: Array.from({ length: 100 }, () => ({ id, status: "TASK_STATUS_PENDING", duplicate: false })) };
const delivery = {
  tasks: {
    tasks: Array.from({ length: 200 }, (_, i) => ({
      id, token: 1000 + i, expires_at_ms: now + 30_000, attempts: 0, priority: 150, queue: "bench", type: "bench.noop",
      payload_is_json: false, payload, created_at_ms: now, max_retries: 3, lease_ms: 30_000,
    })),
  },
};
const report = { report: { ref: 7, results: Array.from({ length: 200 }, (_, i) => ({ id, token: 1000 + i, outcome: "OUTCOME_COMPLETED" })) } };
const ack = { report_ack: { ref: 7, entries: Array.from({ length: 200 }, () => ({ ok: {} })) } };

const sb = (m: Record<string, Method>) => m.SubmitBatch!;
const work = (m: Record<string, Method>) => m.Work!;
const submitBytes = sb(plain).requestSerialize(submit);
const outcomeBytes = sb(plain).responseSerialize(outcomes);
const reportBytes = work(plain).requestSerialize(report);

console.log(`grpc codecs, ${PAIRS} interleaved pairs of ${ROUNDS} messages each; load average ${(await Bun.file("/proc/loadavg").text().catch(() => "?")).split(" ").slice(0, 3).join(" ")}`);
ab("broker: decode SubmitBatch (100 tasks)", () => sb(plain).requestDeserialize(submitBytes), () => sb(fast).requestDeserialize(submitBytes));
ab("broker: encode its outcomes (100)", () => sb(plain).responseSerialize(outcomes), () => sb(fast).responseSerialize(outcomes));
ab("broker: encode a delivery (200 tasks)", () => work(plain).responseSerialize(delivery), () => work(fast).responseSerialize(delivery));
ab("broker: decode a report (200 results)", () => work(plain).requestDeserialize(reportBytes), () => work(fast).requestDeserialize(reportBytes));
ab("broker: encode its ack (200 entries)", () => work(plain).responseSerialize(ack), () => work(fast).responseSerialize(ack));
ab("client: encode SubmitBatch (100 tasks)", () => sb(plain).requestSerialize(submit), () => sb(fast).requestSerialize(submit));
ab("client: decode its outcomes (100)", () => sb(plain).responseDeserialize(outcomeBytes), () => sb(fast).responseDeserialize(outcomeBytes));
