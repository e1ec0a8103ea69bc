// Seeded random valid messages (optional fields present or not, boundary integers, non-ASCII
// text, empty and large byte fields) round-trip exactly: covers layouts the fixed samples miss.

import { expect, test } from "bun:test";
import { encodeRequest, encodeResponse } from "../../../src/protocol/frame-writer.ts";
import { MAX_LEASE_MS, MAX_RETRIES_LIMIT, MIN_LEASE_MS } from "../../../src/protocol/limits.ts";
import type { ClaimedTask, Request, Response, ResultEntry, TaskInfo, TaskSpec } from "../../../src/protocol/messages.ts";
import { decodeRequest } from "../../../src/protocol/request-codec.ts";
import { decodeResponse } from "../../../src/protocol/response-codec.ts";
import { TASK_OUTCOMES, WIRE_TASK_STATUSES } from "../../../src/protocol/wire-values.ts";
import { seededRandom } from "../../helpers/seeded-random.ts";

const prng = seededRandom;

const rand = prng(2024);
const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
const maybe = (): boolean => rand() < 0.5;
/** Integers biased to their edges, where off-by-one and sign bugs live. */
const edgy = (max: number): number => pick([0, 1, max, max - 1, int(0, max)]);
const QUEUE_CHARS = "abcXYZ019_.:-";
const TEXT_CHARS = ["a", "Z", " ", "é", "ß", "中", "😀", "\n", "\u0000"];

function queueName(): string {
  let s = "";
  for (let i = int(1, 20); i > 0; i--) s += QUEUE_CHARS[int(0, QUEUE_CHARS.length - 1)];
  return s;
}
function text(maxChars: number): string {
  let s = "";
  for (let i = int(0, maxChars); i > 0; i--) s += pick(TEXT_CHARS);
  return s;
}
function bytes(): Uint8Array {
  const b = new Uint8Array(pick([0, 1, int(0, 300), 70_000]));
  for (let i = 0; i < b.length; i += 97) b[i] = int(0, 255);
  return b;
}
function uuid(): string {
  const hex = Array.from({ length: 32 }, () => "0123456789abcdef"[int(0, 15)]).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
const timestamp = (): number => pick([1, Number.MAX_SAFE_INTEGER, int(1, 2 ** 32 + 5), 1_733_000_000_000 + int(0, 1e9)]);
const maybeTimestamp = (): number | null => (maybe() ? null : timestamp());

function taskSpec(): TaskSpec {
  const spec: TaskSpec = { type: text(10) || "t", queue: queueName(), payload: bytes(), payloadIsJson: maybe() };
  if (maybe()) spec.priority = edgy(255);
  if (maybe()) spec.runAtMs = timestamp();
  if (maybe()) spec.maxRetries = edgy(MAX_RETRIES_LIMIT);
  if (maybe()) spec.leaseMs = pick([MIN_LEASE_MS, MAX_LEASE_MS, int(MIN_LEASE_MS, MAX_LEASE_MS)]);
  if (maybe()) spec.idempotencyKey = text(30) || "k";
  return spec;
}

function claimedTask(): ClaimedTask {
  return {
    id: uuid(),
    token: edgy(0xffff_ffff),
    expiresAtMs: timestamp(),
    attempts: edgy(0xffff),
    priority: edgy(255),
    queue: queueName(),
    type: text(10),
    payloadIsJson: maybe(),
    payload: bytes(),
    createdAtMs: timestamp(),
    maxRetries: edgy(0xffff),
  };
}

function taskInfo(): TaskInfo {
  return {
    id: uuid(),
    status: pick(WIRE_TASK_STATUSES),
    type: text(10),
    queue: queueName(),
    priority: edgy(255),
    attempts: edgy(0xffff),
    maxRetries: edgy(0xffff),
    leaseMs: edgy(0xffff_ffff),
    runAtMs: maybeTimestamp(),
    createdAtMs: timestamp(),
    updatedAtMs: timestamp(),
    startedAtMs: maybeTimestamp(),
    finishedAtMs: maybeTimestamp(),
    leaseExpiresAtMs: maybeTimestamp(),
    workerId: maybe() ? null : text(12),
    idempotencyKey: maybe() ? null : text(12),
    payloadIsJson: maybe(),
    payload: bytes(),
    resultIsJson: maybe(),
    result: maybe() ? null : bytes(),
    error: maybe() ? null : text(40),
  };
}

function roundTripRequest(m: Request): void {
  const f = encodeRequest(m);
  expect(decodeRequest(f[4]!, f.subarray(5))).toEqual(m);
}
function roundTripResponse(m: Response): void {
  const f = encodeResponse(m);
  expect(decodeResponse(f[4]!, f.subarray(5))).toEqual(m);
}

test("random batches of TaskSpecs round-trip", () => {
  for (let i = 0; i < 150; i++) {
    roundTripRequest({ kind: "SubmitBatch", requestId: edgy(0xffff_ffff), tasks: Array.from({ length: int(1, 8) }, taskSpec) });
  }
});

test("random claims, results and lease lists round-trip", () => {
  for (let i = 0; i < 300; i++) {
    roundTripResponse({ kind: "Claimed", requestId: edgy(0xffff_ffff), tasks: Array.from({ length: int(0, 4) }, claimedTask) });
    roundTripRequest({
      kind: "TaskResult",
      requestId: i,
      id: uuid(),
      token: edgy(0xffff_ffff),
      outcome: pick(TASK_OUTCOMES),
      resultIsJson: maybe(),
      result: bytes(),
      error: text(50),
    });
    roundTripRequest({ kind: "RenewLease", requestId: i, leases: Array.from({ length: int(0, 5) }, () => ({ id: uuid(), token: edgy(0xffff_ffff) })) });
    roundTripResponse({ kind: "Renewed", requestId: i, expiresAtMs: Array.from({ length: int(0, 5) }, maybeTimestamp) });
  }
});

test("random task listings round-trip", () => {
  for (let i = 0; i < 150; i++) {
    roundTripResponse({ kind: "TaskList", requestId: i, tasks: Array.from({ length: int(0, 3) }, taskInfo), nextCursor: maybe() ? null : text(8) || "c" });
  }
});

test("random result batches and their per-item outcomes round-trip", () => {
  for (let i = 0; i < 150; i++) {
    const results = Array.from({ length: int(1, 6) }, () => ({
      id: uuid(),
      token: edgy(0xffff_ffff),
      outcome: pick(TASK_OUTCOMES),
      resultIsJson: maybe(),
      result: bytes(),
      error: text(50),
    }));
    roundTripRequest({ kind: "TaskResultBatch", requestId: edgy(0xffff_ffff), results });
    const entries = results.map((): ResultEntry => {
      const which = int(0, 2);
      if (which === 0) return { entry: "ok" };
      if (which === 1) return { entry: "fail", status: pick(["failed", "dead"] as const), retryAtMs: maybeTimestamp(), attempts: edgy(0xffff) };
      return { entry: "error", code: edgy(0xffff), retryAfterMs: edgy(0xffff_ffff), field: text(10), message: text(60) };
    });
    roundTripResponse({ kind: "ResultBatchOutcome", requestId: i, entries });
  }
});
