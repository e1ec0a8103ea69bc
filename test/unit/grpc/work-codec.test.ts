// The worker stream's hand-written codec (src/grpc/work-codec.ts) against proto-loader's, the
// reference: tasks pushed and report acks (WorkResponse) on random messages — every field set as
// the broker's deliveries are, or some absent — give the same bytes; reports (WorkRequest) decode
// to the same object or the same error on random messages, hand-built wire bytes (any field
// order, repeats, unknown fields, padded varints, outcomes outside the .proto) and corrupted
// bytes; everything else is proto-loader's. Seeded, so a failure repeats.
import { describe, expect, test } from "bun:test";
import type { MethodDefinition } from "@grpc/proto-loader";
import { protoDefinitions } from "../../../src/grpc/proto-files.ts";
import { CLAIMED_TASK, ERROR_MESSAGE, FAIL_OUTCOME, fastWorkMethod, WORK_FAST_PATHS } from "../../../src/grpc/work-codec.ts";
import { bytes, chance, corrupt, int, lengthDelimited, outcome, pick, tag, text, uint32, uint64, unknownField, varint } from "../../helpers/wire-fuzz.ts";

const definitions = protoDefinitions();
const reference = (definitions["tq.v1.Broker"] as unknown as Record<string, MethodDefinition<unknown, unknown>>).Work!;
const codec = fastWorkMethod(reference);

type Flat = typeof CLAIMED_TASK;
type Msg = Record<string, unknown>;

function randomValue(kind: Flat[number][2]): unknown {
  switch (kind) {
    case "string":
      return chance(0.3) ? crypto.randomUUID() : text(10);
    case "bytes":
      return bytes(30);
    case "bool":
      return chance(0.5);
    case "uint32":
      return uint32();
    case "uint64":
      return uint64();
    default:
      return pick(kind);
  }
}

/** An object of a scalar message: each field present or not. */
function randomFlat(fields: Flat, p = 0.8): Msg {
  const m: Msg = {};
  for (const [, name, kind] of fields) if (chance(p)) m[name] = randomValue(kind);
  return m;
}

function randomEntry(): Msg {
  switch (int(4)) {
    case 0:
      return { ok: {} };
    case 1:
      return { fail: randomFlat(FAIL_OUTCOME) };
    case 2:
      return { error: randomFlat(ERROR_MESSAGE) };
    default:
      return {};
  }
}

function randomResponse(): Msg {
  if (chance(0.5)) {
    // Half with every field set, as the broker's deliveries are (the encoder's two-pass path).
    const p = chance(0.5) ? 1 : 0.8;
    return { tasks: { tasks: Array.from({ length: int(5) }, () => randomFlat(CLAIMED_TASK, p)) } };
  }
  return { report_ack: { ...(chance(0.8) ? { ref: uint64() } : {}), entries: Array.from({ length: int(5) }, randomEntry), ...(chance(0.1) ? { error: randomFlat(ERROR_MESSAGE) } : {}) } };
}

/** TaskResult's fields, as the .proto numbers them (the reports' items). */
const TASK_RESULT: Flat = [
  [1, "id", "string"],
  [2, "token", "uint32"],
  [3, "outcome", ["OUTCOME_UNSPECIFIED", "OUTCOME_COMPLETED", "OUTCOME_FAILED", "OUTCOME_UNRECOVERABLE"]],
  [4, "result", "bytes"],
  [5, "result_is_json", "bool"],
  [6, "error", "string"],
];

function randomRequest(): Msg {
  if (chance(0.1)) return { heartbeat: { ref: 1, cpu_percent: 0.5, memory_mb: 3, in_flight: [] } };
  return { report: { ...(chance(0.8) ? { ref: uint64() } : {}), results: Array.from({ length: int(5) }, () => randomFlat(TASK_RESULT)) } };
}


/** A scalar message's fields as a writer might send them: any order, some twice, padded varints, unknown fields. */
function wireFlat(fields: Flat): number[] {
  const parts: number[][] = [];
  for (const [n, , kind] of fields) {
    if (!chance(0.7)) continue;
    if (kind === "string") parts.push(lengthDelimited(n, [...Buffer.from(text(8), "utf8")]));
    else if (kind === "bytes") parts.push(lengthDelimited(n, [...bytes(12)]));
    else {
      const v = kind === "uint64" ? uint64() : kind === "bool" ? int(3) : typeof kind === "string" ? uint32() : chance(0.9) ? int(kind.length) : kind.length + int(5);
      const plain = varint(BigInt(v)).length;
      parts.push([...tag(n, 0), ...varint(BigInt(v), chance(0.25) ? int(11 - plain) : 0)]);
    }
  }
  if (chance(0.3) && parts.length > 0) parts.push(pick(parts));
  for (let k = int(3); k > 0; k--) parts.push(unknownField(fields.length + 1));
  for (let i = parts.length - 1; i > 0; i--) {
    const j = int(i + 1);
    [parts[i], parts[j]] = [parts[j]!, parts[i]!];
  }
  return parts.flat();
}

function wireRequest(): Buffer {
  const body: number[][] = Array.from({ length: int(4) }, () => lengthDelimited(2, wireFlat(TASK_RESULT)));
  if (chance(0.7)) body.splice(int(body.length + 1), 0, [...tag(1, 0), ...varint(BigInt(uint64()))]);
  if (chance(0.3)) body.push(unknownField(3));
  const top: number[][] = [lengthDelimited(2, body.flat())];
  if (chance(0.3)) top.push(unknownField(6));
  if (chance(0.05)) top.push(lengthDelimited(5, [8, 4])); // a second member of the oneof
  return Buffer.from(top.flat());
}


const ROUNDS = 2000;

describe("WorkResponse: tasks and report acks", () => {
  test("encoding random ones gives proto-loader's bytes, by the fast path", () => {
    for (let i = 0; i < ROUNDS; i++) {
      const value = randomResponse();
      const fast = WORK_FAST_PATHS.encodeResponse(value);
      expect(fast).not.toBeNull();
      const bytes = reference.responseSerialize(value);
      expect(fast!.equals(bytes)).toBe(true);
      expect(codec.responseSerialize(value).equals(bytes)).toBe(true);
    }
  });

  test("other messages, and values it does not take, are proto-loader's", () => {
    for (const value of [{ started: { heartbeat_interval_ms: 1 } }, { cancelled: { id: "x", token: 1 } }, { command: { command: "WORKER_COMMAND_QUIET" } }, { tasks: { tasks: [{ token: -1 }] } }, { tasks: { tasks: [{ payload: "YWJj" }] } }, { report_ack: { entries: [{ fail: { status: "TASK_STATUS_LOST" } }] } }]) {
      expect(WORK_FAST_PATHS.encodeResponse(value)).toBeNull();
      expect(outcome(() => codec.responseSerialize(value))).toStrictEqual(outcome(() => reference.responseSerialize(value)));
    }
  });
});

describe("WorkRequest: reports", () => {
  test("decoding proto-loader's encoding of random requests gives its object, by the fast path for reports", () => {
    for (let i = 0; i < ROUNDS; i++) {
      const value = randomRequest();
      const bytes = reference.requestSerialize(value);
      if ("report" in value) expect(WORK_FAST_PATHS.decodeRequest(bytes)).not.toBeNull();
      expect(codec.requestDeserialize(bytes)).toStrictEqual(reference.requestDeserialize(bytes) as never);
    }
  });

  test("decoding hand-built and corrupted bytes: the same object or the same error", () => {
    let fastTaken = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const built = wireRequest();
      const bytes = chance(0.3) ? corrupt(built) : built;
      if (WORK_FAST_PATHS.decodeRequest(bytes) !== null) fastTaken++;
      expect(outcome(() => codec.requestDeserialize(bytes))).toStrictEqual(outcome(() => reference.requestDeserialize(bytes)));
    }
    expect(fastTaken).toBeGreaterThan(ROUNDS / 10);
  });
});
