// Every example hex block of docs/PROTOCOL.md, checked with the independent docs codec: the bytes
// decode to exactly the JSON line above them, and that JSON encodes to exactly those bytes; and
// every example request, sent as its exact bytes to a live broker, is read as a valid request.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { bytesOfHex, decodeFrames, encode, normalise, REQUESTS, type Json, type Msg } from "./docs-codec.ts";
import { DocsClient } from "./docs-client.ts";

const DOC = readFileSync(resolve(import.meta.dir, "../../docs/PROTOCOL.md"), "utf8");

interface Example { title: string; json: Msg; bytes: Uint8Array }

function examples(): Example[] {
  const out: Example[] = [];
  const re = /Example (?:request|response) \*\*(\w+)\*\*:\s*```json\n(.*?)\n```\s*```hex\n([\s\S]*?)```/g;
  for (const m of DOC.matchAll(re)) {
    const hex = m[3]!.split("\n").map((line) => line.split(";")[0]!).join(" ");
    out.push({ title: m[1]!, json: JSON.parse(m[2]!) as Msg, bytes: bytesOfHex(hex) });
  }
  return out;
}

const all = examples();

describe("PROTOCOL.md examples, read by a codec written from the doc", () => {
  test("every hex block is paired with its JSON line", () => {
    expect(all.length).toBe((DOC.match(/```hex/g) ?? []).length);
    // One example per request and response type, at least (22 requests + 18 responses).
    expect(new Set(all.map((e) => e.json.kind)).size).toBeGreaterThanOrEqual(40);
  });

  for (const e of all) {
    test(`${e.title} (request id ${e.json.requestId}) decodes to its JSON line`, () => {
      const frames = decodeFrames(e.bytes);
      expect(frames.length).toBe(1);
      expect(normalise(frames[0] as unknown as Json)).toEqual(normalise(e.json as unknown as Json));
    });
    test(`${e.title} (request id ${e.json.requestId}) JSON encodes to its bytes`, () => {
      expect(Buffer.from(encode(e.json)).toString("hex")).toBe(Buffer.from(e.bytes).toString("hex"));
    });
  }
});

describe("PROTOCOL.md example requests, sent byte for byte to a live broker", () => {
  let broker: TestBroker;
  let c: DocsClient;
  beforeAll(async () => {
    broker = await startBroker();
    c = await DocsClient.open(broker.port);
  });
  afterAll(async () => {
    c.close();
    await broker.stop();
  });
  const requests = all.filter((e) => REQUESTS[e.bytes[4]!] !== undefined);

  test("there is an example of every request type", () => {
    expect(new Set(requests.map((e) => e.bytes[4]))).toEqual(new Set(Object.keys(REQUESTS).map(Number)));
  });

  // In document order, one session: the example task id never exists here, so requests naming it
  // get NotFound (or LeaseLost), never a decoding error.
  for (const e of requests) {
    test(`${e.title} (request id ${e.json.requestId}) is read as a valid request`, async () => {
      c.send(e.bytes);
      const r = await c.reply(e.json.requestId, 10_000);
      if (r.kind === "Error") expect([8, 10]).toContain(Number(r.code));
      else expect(r.kind).not.toBe("Undecodable");
    }, 15_000);
  }
});
