// Every example hex block of docs/PROTOCOL.md, checked with the independent docs codec: the bytes
// decode to exactly the JSON line above them, and that JSON encodes to exactly those bytes.

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { bytesOfHex, decodeFrames, encode, normalise, type Json, type Msg } from "./docs-codec.ts";

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
