// Writes the worked examples of docs/PROTOCOL.md: each sample message as a ```json block (the
// message) and a ```hex block (its frame, one field per line with a `;` comment). The doc test
// reads the same blocks back. Run `bun test/unit/protocol/doc-examples.ts` to print them all.

import { ByteWriter } from "../../../src/protocol/byte-writer.ts";
import { RequestType, ResponseType, type RequestKind, type ResponseKind } from "../../../src/protocol/message-types.ts";
import type { Request, Response } from "../../../src/protocol/messages.ts";
import { writeRequestBody } from "../../../src/protocol/request-codec.ts";
import { writeResponseBody } from "../../../src/protocol/response-codec.ts";
import { RESULT_ENTRY_KINDS, TASK_OUTCOMES, WIRE_TASK_STATUSES, WORKER_COMMANDS } from "../../../src/protocol/wire-values.ts";
import { REQUEST_SAMPLES, RESPONSE_SAMPLES } from "./sample-messages.ts";

interface Span {
  start: number;
  end: number;
  note: string;
}

const BYTES_PER_LINE = 16;

/** What a u8 stands for, for the enumerations and bit sets. */
function u8Meaning(field: string, v: number): string {
  if (field === "flags" || field === "notices") return ` = 0b${v.toString(2).padStart(8, "0")}`;
  const names: Record<string, readonly string[]> = {
    status: WIRE_TASK_STATUSES,
    outcome: TASK_OUTCOMES,
    command: WORKER_COMMANDS,
    entry: RESULT_ENTRY_KINDS,
  };
  const table = names[field];
  return table === undefined ? "" : ` (${table[v] ?? "?"})`;
}

/** A ByteWriter that remembers which bytes each field wrote, to annotate the hex. */
class TracingWriter extends ByteWriter {
  spans: Span[] = [];
  private depth = 0;

  private trace(note: string, write: () => void): void {
    const start = this.pos;
    this.depth++;
    try {
      write();
    } finally {
      this.depth--;
    }
    if (this.depth === 0) this.spans.push({ start, end: this.pos, note });
  }

  override u8(field: string, v: number): void {
    this.trace(`${field} u8 = ${v}${u8Meaning(field, v)}`, () => super.u8(field, v));
  }
  override u16(field: string, v: number): void {
    this.trace(`${field} u16 = ${v}`, () => super.u16(field, v));
  }
  override u32(field: string, v: number): void {
    this.trace(`${field} u32 = ${v}`, () => super.u32(field, v));
  }
  override u64(field: string, v: number): void {
    this.trace(`${field} u64 = ${v}`, () => super.u64(field, v));
  }
  override u64OrNull(field: string, v: number | null | undefined): void {
    this.trace(`${field} u64 = ${v ?? "0 (absent)"}`, () => super.u64OrNull(field, v));
  }
  override f32(field: string, v: number): void {
    this.trace(`${field} f32 = ${v}`, () => super.f32(field, v));
  }
  override bool(field: string, v: boolean): void {
    this.trace(`${field} u8 = ${v ? 1 : 0}`, () => super.bool(field, v));
  }
  override uuid(field: string, id: string): void {
    this.trace(`${field} uuid = ${id}`, () => super.uuid(field, id));
  }
  override str(field: string, s: string, maxBytes?: number): void {
    this.traceLengthPrefixed(field, "str", 2, JSON.stringify(s), () => super.str(field, s, maxBytes));
  }
  override text(field: string, s: string, maxBytes: number): void {
    this.traceLengthPrefixed(field, "text", 4, JSON.stringify(s), () => super.text(field, s, maxBytes));
  }
  override clippedText(field: string, s: string, keepBytes: number): void {
    this.traceLengthPrefixed(field, "text", 4, JSON.stringify(s), () => super.clippedText(field, s, keepBytes));
  }
  override bytes(field: string, data: Uint8Array, maxBytes: number): void {
    this.traceLengthPrefixed(field, "bytes", 4, `${data.length} raw bytes`, () => super.bytes(field, data, maxBytes));
  }

  /** Length prefix and content on separate lines, so the prefix is easy to spot. */
  private traceLengthPrefixed(field: string, kind: string, prefixBytes: number, shown: string, write: () => void): void {
    const start = this.pos;
    this.depth++;
    try {
      write();
    } finally {
      this.depth--;
    }
    if (this.depth !== 0) return;
    const length = this.pos - start - prefixBytes;
    this.spans.push({ start, end: start + prefixBytes, note: `${field} ${kind} length = ${length}` });
    if (length > 0) this.spans.push({ start: start + prefixBytes, end: this.pos, note: `  ${shown}` });
  }
}

function hexLines(bytes: Uint8Array, spans: Span[]): string[] {
  const lines: { hex: string; note: string }[] = [];
  for (const span of spans) {
    for (let p = span.start; p < span.end; p += BYTES_PER_LINE) {
      const chunk = bytes.subarray(p, Math.min(span.end, p + BYTES_PER_LINE));
      const hex = [...chunk].map((b) => b.toString(16).padStart(2, "0")).join(" ");
      lines.push({ hex, note: p === span.start ? span.note : "" });
    }
  }
  const width = Math.max(...lines.map((l) => l.hex.length));
  return lines.map((l) => (l.note === "" ? l.hex : `${l.hex.padEnd(width)}  ; ${l.note}`));
}

/** The frame of one message, annotated: header lines then one line (or more) per field. */
export function annotatedFrame(m: Request | Response, direction: "request" | "response"): { bytes: Uint8Array; hex: string } {
  const w = new TracingWriter(64);
  const type = direction === "request" ? RequestType[(m as Request).kind] : ResponseType[(m as Response).kind];
  w.ensure(5);
  w.pos = 5;
  if (direction === "request") writeRequestBody(w, m as Request);
  else writeResponseBody(w, m as Response);
  const length = w.pos - 4;
  w.putU32(0, length);
  w.buf[4] = type;
  const bytes = w.buf.slice(0, w.pos);
  const spans: Span[] = [
    { start: 0, end: 4, note: `frame length u32 = ${length} (type byte + body)` },
    { start: 4, end: 5, note: `message type = 0x${type.toString(16).padStart(2, "0")} ${m.kind}` },
    ...w.spans,
  ];
  return { bytes, hex: hexLines(bytes, spans).join("\n") };
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function bytesAsJson(b: Uint8Array): { utf8: string } | { hex: string } {
  try {
    const text = strictUtf8.decode(b);
    // Control characters would make the doc unreadable; those payloads are shown as hex.
    if (!/[\u0000-\u001f]/.test(text)) return { utf8: text };
  } catch {
    // not UTF-8: shown as hex below
  }
  return { hex: Buffer.from(b).toString("hex") };
}

/** JSON of a message, byte fields as {"utf8": text} or {"hex": digits} (the doc test turns them back into bytes). */
export function messageJson(m: Request | Response): string {
  return JSON.stringify(m, (_key, value: unknown) => (value instanceof Uint8Array ? bytesAsJson(value) : value));
}

/** Inverse of messageJson. */
export function parseMessageJson(json: string): unknown {
  return JSON.parse(json, (_key, value: unknown) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      const keys = Object.keys(value);
      const v = value as { utf8?: unknown; hex?: unknown };
      if (keys.length === 1 && typeof v.utf8 === "string") return new TextEncoder().encode(v.utf8);
      if (keys.length === 1 && typeof v.hex === "string") return new Uint8Array(Buffer.from(v.hex, "hex"));
    }
    return value;
  });
}

/** The markdown of one worked example: a heading line naming the message, the JSON, the hex. */
export function exampleMarkdown(m: Request | Response, direction: "request" | "response"): string {
  const { hex } = annotatedFrame(m, direction);
  return [`Example ${direction} **${m.kind}**:`, "", "```json", messageJson(m), "```", "", "```hex", hex, "```", ""].join("\n");
}

if (import.meta.main) {
  const which = process.argv[2];
  for (const kind of Object.keys(REQUEST_SAMPLES) as RequestKind[]) {
    if (which === undefined || which === kind) console.log(exampleMarkdown(REQUEST_SAMPLES[kind][0]!, "request"));
  }
  for (const kind of Object.keys(RESPONSE_SAMPLES) as ResponseKind[]) {
    if (which === undefined || which === kind) console.log(exampleMarkdown(RESPONSE_SAMPLES[kind][0]!, "response"));
  }
}
