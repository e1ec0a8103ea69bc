// JSON nested absurdly deep (issue 19.7): refused at submit on both front doors with InvalidField
// naming payload and the limit (MAX_JSON_DEPTH), and a deep JSON payload or result already stored
// is shown over REST as bytes instead of failing every read with 500. Real broker, real sockets.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { MAX_JSON_DEPTH } from "../../src/protocol/limits.ts";
import { openSqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { join } from "node:path";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawConn } from "../helpers/raw-conn.ts";

const enc = new TextEncoder();
const nested = (depth: number): string => "[".repeat(depth) + "]".repeat(depth);
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

async function rest(method: string, path: string, body?: string): Promise<{ status: number; body: any }> {
  const r = await fetch(`http://127.0.0.1:${broker.httpPort}${path}`, { method, ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }) });
  return { status: r.status, body: await r.json() };
}

describe("submit", () => {
  test("over TCP, a payload nested 100,000 deep is refused: InvalidField naming payload and the limit", async () => {
    const r = await conn.call({ kind: "SubmitTask", task: { type: "deep", queue: "deep", payload: enc.encode(nested(100_000)), payloadIsJson: true } });
    expect(r).toMatchObject({ kind: "Error", code: ErrorCode.InvalidField, field: "payload", message: expect.stringContaining(`more than ${MAX_JSON_DEPTH} levels`) });
    // The same bytes not marked JSON are opaque: accepted.
    expect((await conn.call({ kind: "SubmitTask", task: { type: "deep", queue: "deep", payload: enc.encode(nested(100_000)), payloadIsJson: false } })).kind).toBe("Submitted");
  });

  test("over REST, the same payload answers 400 InvalidField naming payload and the limit, not 500", async () => {
    for (const depth of [100_000, MAX_JSON_DEPTH + 1]) {
      const r = await rest("POST", "/api/v1/tasks", `{"type":"deep","payload":${nested(depth)}}`);
      expect({ depth, status: r.status, name: r.body.error?.name, field: r.body.error?.field }).toEqual({ depth, status: 400, name: "InvalidField", field: "payload" });
      expect(r.body.error.message).toContain(`${MAX_JSON_DEPTH} levels`);
    }
  });

  test(`nesting up to the limit (${MAX_JSON_DEPTH}) is accepted on both doors and read back as JSON; brackets inside strings do not count`, async () => {
    const text = nested(MAX_JSON_DEPTH);
    const tcp = await conn.call({ kind: "SubmitTask", task: { type: "deep", queue: "deep", payload: enc.encode(text), payloadIsJson: true } });
    expect(tcp.kind).toBe("Submitted");
    const viaRest = await rest("POST", "/api/v1/tasks", `{"type":"deep","payload":${text}}`);
    expect(viaRest.status).toBe(201);
    const brackets = JSON.stringify({ s: "[".repeat(5000) + "{".repeat(5000) });
    expect((await conn.call({ kind: "SubmitTask", task: { type: "deep", queue: "deep", payload: enc.encode(brackets), payloadIsJson: true } })).kind).toBe("Submitted");
    for (const id of [tcp.kind === "Submitted" ? tcp.id : "", viaRest.body.id]) {
      const got = await rest("GET", `/api/v1/tasks/${id}`);
      expect(got.status).toBe(200);
      expect(JSON.stringify(got.body.payload)).toBe(text);
    }
  });
});

describe("reading what is already stored", () => {
  test("a JSON result nested 100,000 deep (a worker's) is served as bytes by GET /tasks/{id} and /result, not 500", async () => {
    const sent = await conn.call({ kind: "SubmitTask", task: { type: "deep-result", queue: "deep-result", payload: enc.encode("{}"), payloadIsJson: true } });
    const claimed = await conn.call({ kind: "ClaimTask", queues: ["deep-result"], max: 1, waitMs: 0 });
    if (sent.kind !== "Submitted" || claimed.kind !== "Claimed") throw new Error("setup failed");
    const result = enc.encode(nested(100_000));
    const ack = await conn.call({ kind: "TaskResult", id: sent.id, token: claimed.tasks[0]!.token, outcome: "completed", resultIsJson: true, result, error: "" });
    expect(ack.kind).toBe("Ack");
    for (const path of [`/api/v1/tasks/${sent.id}`, `/api/v1/tasks/${sent.id}/result`]) {
      const got = await rest("GET", path);
      expect({ path, status: got.status, result_is_json: got.body.result_is_json }).toEqual({ path, status: 200, result_is_json: true });
      expect(Buffer.from(got.body.result_base64, "base64").equals(Buffer.from(result))).toBe(true);
    }
  });

  test("a payload nested 100,000 deep stored by an older build (no depth check) is served as bytes, not 500", async () => {
    await broker.stopKeepData();
    // What an older build accepted: straight into the store, past today's submit checks.
    const store = openSqliteStore({ path: join(broker.dataDir, "tq.db") });
    const payload = enc.encode(nested(100_000));
    const [old] = await store.submit(
      [{ type: "old", queue: "old", payload, payloadIsJson: true, priority: 150, runAtMs: null, maxRetries: 3, leaseMs: 30_000, idempotencyKey: null }],
      Date.now(),
    );
    await store.close();
    broker = await startBroker({}, broker.dataDir);
    conn.close();
    conn = await RawConn.connect(broker.port);
    for (const path of [`/api/v1/tasks/${old!.id}`, `/api/v1/tasks/${old!.id}/result`]) {
      const got = await rest("GET", path);
      expect({ path, status: got.status, payload_is_json: got.body.payload_is_json }).toEqual({ path, status: 200, payload_is_json: true });
      expect(Buffer.from(got.body.payload_base64, "base64").equals(Buffer.from(payload))).toBe(true);
    }
  });
});
