// The JSON that docs/PROTOCOL.md shows for ListWorkers and GetStats is what the broker sends:
// every block marked `<!-- json-shape: NAME -->` is compared, key for key and type for type, with
// a live broker's reply (a documented key the broker does not send, or the reverse, fails).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { expectKind } from "../helpers/wire.ts";

const doc = await Bun.file(new URL("../../docs/PROTOCOL.md", import.meta.url)).text();

function documented(name: string): unknown {
  const match = new RegExp(`<!-- json-shape: ${name} -->\\n\`\`\`json\\n([\\s\\S]*?)\\n\`\`\``).exec(doc);
  if (match === null) throw new Error(`docs/PROTOCOL.md has no json-shape block named ${name}`);
  return JSON.parse(match[1]!);
}

/** Where `live` differs from `documented` in keys or JSON types (null matches anything documented as null or not). */
function shapeDifferences(documentedValue: unknown, live: unknown, path = "$"): string[] {
  if (documentedValue === null || live === null) return [];
  if (Array.isArray(documentedValue) || Array.isArray(live)) {
    if (!Array.isArray(documentedValue) || !Array.isArray(live)) return [`${path}: documented ${JSON.stringify(documentedValue)}, sent ${JSON.stringify(live)}`];
    if (documentedValue.length === 0 || live.length === 0) return [];
    return shapeDifferences(documentedValue[0], live[0], `${path}[0]`);
  }
  if (typeof documentedValue !== typeof live) return [`${path}: documented a ${typeof documentedValue}, sent a ${typeof live}`];
  if (typeof live !== "object") return [];
  const d = documentedValue as Record<string, unknown>;
  const l = live as Record<string, unknown>;
  const out: string[] = [];
  for (const key of Object.keys(d)) if (!(key in l)) out.push(`${path}.${key}: documented, not sent`);
  for (const key of Object.keys(l)) if (!(key in d)) out.push(`${path}.${key}: sent, not documented`);
  for (const key of Object.keys(d)) if (key in l) out.push(...shapeDifferences(d[key], l[key], `${path}.${key}`));
  return out;
}

let broker: TestBroker;
let conn: RawConn;

beforeAll(async () => {
  broker = await startBroker();
  conn = await RawConn.connect(broker.port);
});

afterAll(async () => {
  conn.close();
  await broker.stop();
});

test("the shape check itself tells a renamed key and a changed type", () => {
  expect(shapeDifferences({ id: "w", n: 1 }, { workerId: "w", n: 1 })).toEqual(["$.id: documented, not sent", "$.workerId: sent, not documented"]);
  expect(shapeDifferences({ a: { b: 1 } }, { a: { b: "1" } })).toEqual(["$.a.b: documented a number, sent a string"]);
});

test("a ListWorkers object has exactly the documented keys and types", async () => {
  const example = documented("worker") as Record<string, unknown>;
  expectKind(
    await conn.call({ kind: "RegisterWorker", workerId: "shape-w", hostname: "h", pid: 7, queues: ["default"], concurrency: 2, version: "1", labels: [{ key: "zone", value: "eu-1" }] }),
    "Registered",
  );
  expectKind(await conn.call({ kind: "Heartbeat", workerId: "shape-w", cpuPercent: 1.5, memoryMb: 20, inFlight: [] }), "HeartbeatOk");
  const workers = JSON.parse(expectKind(await conn.call({ kind: "ListWorkers" }), "Workers").json) as Record<string, unknown>[];
  const live = workers.find((w) => w.id === "shape-w");
  expect(live).toBeDefined();
  expect(shapeDifferences(example, live)).toEqual([]);
});

test("GetStats has exactly the documented keys and types", async () => {
  const example = documented("stats") as Record<string, unknown>;
  expectKind(await conn.call({ kind: "SubmitTask", task: { type: "t", queue: "default", payload: new Uint8Array(0), payloadIsJson: false } }), "Submitted");
  const paused = await fetch(`http://127.0.0.1:${broker.httpPort}/api/v1/queues/reports/pause`, { method: "POST" });
  expect(paused.status).toBe(200);
  const live = JSON.parse(expectKind(await conn.call({ kind: "GetStats" }), "Stats").json) as Record<string, unknown>;
  expect(shapeDifferences(example, live)).toEqual([]);
});
