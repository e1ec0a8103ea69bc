// docs/metrics.md (and the metric PROTOCOL.md §4 names) against a live broker's /metrics: every
// documented tq_ metric is served with its documented type, and every served tq_ metric is documented.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { DocsClient, spec } from "./docs-client.ts";

const DOC = readFileSync(resolve(import.meta.dir, "../../docs/metrics.md"), "utf8");
/** name -> type, from the doc's tables (`| \`tq_x\` | counter | ...`). */
const documented = new Map([...DOC.matchAll(/^\| `(tq_[a-z_]+)` \| (counter|gauge|histogram) \|/gm)].map((m) => [m[1]!, m[2]!]));

let broker: TestBroker;
let text = "";
beforeAll(async () => {
  broker = await startBroker({ "broker.max_connections": 2 });
  const c = await DocsClient.open(broker.port);
  await c.ok({ kind: "SubmitTask", task: spec("m", { queue: "mq" }) }, "Submitted");
  const [t] = (await c.ok({ kind: "ClaimTask", queues: ["mq"], max: 1, waitMs: 0 }, "Claimed")).tasks as Record<string, never>[];
  await c.ok({ kind: "TaskResult", id: t!.id, token: t!.token, outcome: "completed", resultIsJson: false, result: { utf8: "" }, error: "" }, "Ack");
  await c.call({ kind: "QueryStatus", id: "01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90" });
  const second = await DocsClient.open(broker.port);
  await second.ok({ kind: "Ping" }, "Pong");
  const refused = await DocsClient.open(broker.port);
  await refused.closesWithin(2000);
  text = await (await fetch(`http://127.0.0.1:${broker.metricsPort}/metrics`)).text();
  c.close();
  second.close();
});
afterAll(async () => {
  await broker.stop();
});

test("the doc's tables list the metrics (sanity of the parse)", () => {
  expect(documented.size).toBeGreaterThanOrEqual(25);
});

test("every documented tq_ metric is served with its documented type", () => {
  for (const [name, type] of documented) expect(text).toContain(`# TYPE ${name} ${type}`);
});

test("every served tq_ metric is documented", () => {
  const served = [...text.matchAll(/^# TYPE (tq_[a-z_]+) /gm)].map((m) => m[1]!);
  expect(served.filter((n) => !documented.has(n))).toEqual([]);
});

test("a connection refused past max_connections is counted as tq_connections_refused_total{reason=\"max_connections\"}", () => {
  expect(text).toMatch(/^tq_connections_refused_total\{reason="max_connections"\} [1-9]/m);
});
