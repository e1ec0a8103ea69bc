// docs/PROTOCOL.md's worked examples are real: every ```hex block decodes to exactly the message
// in the ```json block before it, the encoder produces exactly those bytes, every message kind
// has an example, and the error table lists every code of errors.ts.

import { describe, expect, test } from "bun:test";
import { ERRORS } from "../../../src/protocol/errors.ts";
import { FrameDecoder } from "../../../src/protocol/frame-decoder.ts";
import { encodeRequest, encodeResponse } from "../../../src/protocol/frame-writer.ts";
import { RequestType, ResponseType } from "../../../src/protocol/message-types.ts";
import type { Request, Response } from "../../../src/protocol/messages.ts";
import { decodeRequest } from "../../../src/protocol/request-codec.ts";
import { decodeResponse } from "../../../src/protocol/response-codec.ts";
import { parseMessageJson } from "./doc-examples.ts";

const DOC_PATH = new URL("../../../docs/PROTOCOL.md", import.meta.url);
const doc = await Bun.file(DOC_PATH).text();

interface Example {
  direction: "request" | "response";
  kind: string;
  json: string;
  hex: string;
  line: number;
}

const EXAMPLE_PATTERN = /^Example (request|response) \*\*(\w+)\*\*:\n\n```json\n(.*)\n```\n\n```hex\n([\s\S]*?)\n```$/gm;

const examples: Example[] = [...doc.matchAll(EXAMPLE_PATTERN)].map((m) => ({
  direction: m[1] as "request" | "response",
  kind: m[2]!,
  json: m[3]!,
  hex: m[4]!,
  line: doc.slice(0, m.index).split("\n").length,
}));

/** Hex digits before each line's `;` comment. */
function hexBytes(block: string): Uint8Array {
  const digits = block
    .split("\n")
    .map((line) => line.split(";")[0]!)
    .join(" ")
    .trim()
    .split(/\s+/)
    .filter((t) => t !== "");
  for (const d of digits) if (!/^[0-9a-f]{2}$/.test(d)) throw new Error(`not a hex byte: ${JSON.stringify(d)}`);
  return new Uint8Array(digits.map((d) => parseInt(d, 16)));
}

test("every ```hex block in the doc is a checked example", () => {
  const hexBlocks = doc.match(/^```hex$/gm) ?? [];
  expect(examples.length).toBe(hexBlocks.length);
  expect(examples.length).toBeGreaterThan(0);
});

test("every message kind has a worked example", () => {
  const shown = new Set(examples.map((e) => `${e.direction}:${e.kind}`));
  for (const kind of Object.keys(RequestType)) expect(shown.has(`request:${kind}`)).toBe(true);
  for (const kind of Object.keys(ResponseType)) expect(shown.has(`response:${kind}`)).toBe(true);
});

describe("each example decodes to its message and is what the encoder writes", () => {
  for (const ex of examples) {
    test(`${ex.direction} ${ex.kind} (line ${ex.line})`, () => {
      const bytes = hexBytes(ex.hex);
      const d = new FrameDecoder();
      d.push(bytes);
      const frame = d.next();
      expect(frame).not.toBeNull();
      expect(d.next()).toBeNull();
      expect(d.bufferedBytes).toBe(0);
      const expected = parseMessageJson(ex.json) as Request | Response;
      expect(expected.kind).toBe(ex.kind as Request["kind"]);
      if (ex.direction === "request") {
        expect(decodeRequest(frame!.type, frame!.body)).toEqual(expected as Request);
        expect(encodeRequest(expected as Request)).toEqual(bytes);
      } else {
        expect(decodeResponse(frame!.type, frame!.body)).toEqual(expected as Response);
        expect(encodeResponse(expected as Response)).toEqual(bytes);
      }
    });
  }
});

test("the error table lists every error code with its name", () => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    expect(doc).toMatch(new RegExp(`^\\| ${code} \\| ${spec.name} \\|`, "m"));
  }
});
