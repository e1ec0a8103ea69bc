// The hand-written SubmitBatch codec (src/grpc/submit-codec.ts) against proto-loader's, the
// reference: on random messages (every TaskSpec field, both oneofs, the optional fields, unicode,
// 64-bit values), on hand-built wire bytes (fields in any order, repeated, unknown fields of every
// wire type, padded varints, both members of a oneof) and on corrupted bytes, both give the same
// object — or the same error — and the encoders the same bytes. Seeded, so a failure repeats.
import { describe, expect, test } from "bun:test";
import type { MethodDefinition } from "@grpc/proto-loader";
import { protoDefinitions } from "../../../src/grpc/proto-files.ts";
import { FAST_PATHS, submitBatchCodec, TASK_STATUS_NAMES, TIER_NAMES } from "../../../src/grpc/submit-codec.ts";
import { bytes, chance, corrupt, int, lengthDelimited, outcome, pick, tag, text, uint32, uint64, unknownField, varint } from "../../helpers/wire-fuzz.ts";

const definitions = protoDefinitions();
const reference = (definitions["tq.v1.Broker"] as unknown as Record<string, MethodDefinition<unknown, unknown>>).SubmitBatch!;
const codec = submitBatchCodec(reference);

const POOL = ["a", "b", "ab", "ba", "日", "bench.noop", "bench.nooé", ""];

function randomSpec(): Record<string, unknown> {
  const s: Record<string, unknown> = {};
  // Types and queues repeat within a batch (the decoder keeps the last one's string): some from a pool.
  if (chance(0.8)) s.type = chance(0.5) ? pick(POOL) : text(12);
  if (chance(0.7)) s.queue = chance(0.5) ? pick(POOL) : text(8);
  if (chance(0.8)) s.payload = bytes(40);
  if (chance(0.5)) s.payload_is_json = chance(0.5);
  const priority = int(3);
  if (priority === 1) s.priority = uint32();
  if (priority === 2) s.tier = pick(TIER_NAMES);
  const schedule = int(3);
  if (schedule === 1) s.run_at_ms = uint64();
  if (schedule === 2) s.delay_ms = uint64();
  if (chance(0.4)) s.max_retries = uint32();
  if (chance(0.4)) s.lease_ms = uint32();
  if (chance(0.4)) s.idempotency_key = text(10);
  return s;
}

const randomRequest = (): { tasks: Record<string, unknown>[] } => ({ tasks: Array.from({ length: int(6) }, randomSpec) });

/** A TaskSpec's fields as a protobuf writer might send them: any order, some twice, padded varints. */
function wireSpec(): number[] {
  const fields: number[][] = [];
  const utf8 = (s: string): number[] => [...Buffer.from(s, "utf8")];
  // Padded varints (zero continuation bytes), up to the 10 bytes a varint may take.
  const varintField = (field: number, v: number): number[] => {
    const plain = varint(BigInt(v)).length;
    return [...tag(field, 0), ...varint(BigInt(v), chance(0.25) ? int(11 - plain) : 0)];
  };
  for (const field of [1, 2, 11]) if (chance(0.6)) fields.push(lengthDelimited(field, utf8(chance(0.5) ? pick(POOL) : text(8))));
  if (chance(0.6)) fields.push(lengthDelimited(3, [...bytes(20)]));
  if (chance(0.4)) fields.push(varintField(4, int(3)));
  // Sometimes both members of a oneof, which proto-loader keeps both of.
  if (chance(0.5)) fields.push(varintField(5, uint32()));
  if (chance(0.4)) fields.push(varintField(6, chance(0.9) ? int(4) : 4 + int(10)));
  if (chance(0.5)) fields.push(varintField(7, uint64()));
  if (chance(0.3)) fields.push(varintField(8, uint64()));
  if (chance(0.4)) fields.push(varintField(9, uint32()));
  if (chance(0.4)) fields.push(varintField(10, uint32()));
  // A field twice: the last one counts.
  if (chance(0.3) && fields.length > 0) fields.push(pick(fields));
  for (let n = int(3); n > 0; n--) fields.push(unknownField(12));
  for (let i = fields.length - 1; i > 0; i--) {
    const j = int(i + 1);
    [fields[i], fields[j]] = [fields[j]!, fields[i]!];
  }
  return fields.flat();
}

function wireRequest(): Buffer {
  const parts: number[][] = Array.from({ length: int(5) }, () => lengthDelimited(1, wireSpec()));
  if (chance(0.4)) parts.splice(int(parts.length + 1), 0, unknownField(2));
  return Buffer.from(parts.flat());
}

const ROUNDS = 3000;

describe("SubmitBatchRequest: the hand-written decoder gives proto-loader's object", () => {
  test("on proto-loader's own encoding of random requests, by the fast path", () => {
    for (let i = 0; i < ROUNDS; i++) {
      const bytes = reference.requestSerialize(randomRequest());
      const fast = FAST_PATHS.decodeRequest(bytes);
      expect(fast).not.toBeNull();
      expect(fast).toStrictEqual(reference.requestDeserialize(bytes) as never);
    }
  });

  test("on hand-built wire bytes: any field order, repeats, unknown fields, padded varints, both oneof members", () => {
    let fastTaken = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const bytes = wireRequest();
      if (FAST_PATHS.decodeRequest(bytes) !== null) fastTaken++;
      expect(outcome(() => codec.decodeRequest(bytes))).toStrictEqual(outcome(() => reference.requestDeserialize(bytes)));
    }
    // Most of these are for the fast path (the rest: both oneof members, an enum out of range).
    expect(fastTaken).toBeGreaterThan(ROUNDS / 4);
  });

  test("on corrupted bytes: the same object or the same error", () => {
    for (let i = 0; i < ROUNDS; i++) {
      const bytes = corrupt(chance(0.5) ? wireRequest() : reference.requestSerialize(randomRequest()));
      expect(outcome(() => codec.decodeRequest(bytes))).toStrictEqual(outcome(() => reference.requestDeserialize(bytes)));
    }
  });

  test("an empty request is no tasks; defaults are proto-loader's", () => {
    expect(FAST_PATHS.decodeRequest(Buffer.alloc(0))).toStrictEqual(reference.requestDeserialize(Buffer.alloc(0)) as never);
    const one = Buffer.from([0x0a, 0x00]);
    expect(FAST_PATHS.decodeRequest(one)).toStrictEqual(reference.requestDeserialize(one) as never);
  });
});

describe("SubmitBatchRequest: the hand-written encoder writes proto-loader's bytes", () => {
  test("on random requests, by the fast path", () => {
    for (let i = 0; i < ROUNDS; i++) {
      const request = randomRequest();
      const fast = FAST_PATHS.encodeRequest(request);
      expect(fast).not.toBeNull();
      expect(fast!.equals(reference.requestSerialize(request))).toBe(true);
    }
  });

  test("what it does not take (a number as a string, a tier number, an unknown tier) is proto-loader's", () => {
    for (const spec of [{ priority: "7" }, { tier: 1 }, { tier: "TIER_TOP" }, { run_at_ms: -1 }, { payload: "YWJj" }, { payload_is_json: 1 }]) {
      const request = { tasks: [{ type: "t", ...spec }] };
      expect(FAST_PATHS.encodeRequest(request)).toBeNull();
      expect(outcome(() => codec.encodeRequest(request))).toStrictEqual(outcome(() => reference.requestSerialize(request)));
    }
  });
});

const randomOutcome = (): Record<string, unknown> => ({
  ...(chance(0.9) ? { id: chance(0.8) ? crypto.randomUUID() : text(5) } : {}),
  ...(chance(0.9) ? { status: pick(TASK_STATUS_NAMES) } : {}),
  ...(chance(0.9) ? { duplicate: chance(0.3) } : {}),
});
const randomResponse = (): { outcomes: Record<string, unknown>[] } => ({ outcomes: Array.from({ length: int(6) }, randomOutcome) });

describe("SubmitBatchResponse: both directions are proto-loader's", () => {
  test("encoding random responses gives its bytes by the fast path; decoding them its object", () => {
    for (let i = 0; i < ROUNDS; i++) {
      const response = randomResponse();
      const fast = FAST_PATHS.encodeResponse(response);
      expect(fast).not.toBeNull();
      const bytes = reference.responseSerialize(response);
      expect(fast!.equals(bytes)).toBe(true);
      expect(FAST_PATHS.decodeResponse(bytes)).toStrictEqual(reference.responseDeserialize(bytes) as never);
    }
  });

  test("decoding corrupted responses or ones with unknown fields: the same object or the same error", () => {
    for (let i = 0; i < ROUNDS; i++) {
      const valid = reference.responseSerialize(randomResponse());
      const bytes = chance(0.5) ? corrupt(valid) : Buffer.concat([valid, Buffer.from(unknownField(2))]);
      expect(outcome(() => codec.decodeResponse(bytes))).toStrictEqual(outcome(() => reference.responseDeserialize(bytes)));
    }
  });

  test("an unknown status name is proto-loader's to refuse or write", () => {
    const response = { outcomes: [{ id: "x", status: "TASK_STATUS_LOST", duplicate: false }] };
    expect(FAST_PATHS.encodeResponse(response)).toBeNull();
    expect(outcome(() => codec.encodeResponse(response))).toStrictEqual(outcome(() => reference.responseSerialize(response)));
  });
});

describe("the codec's enums are the .proto's", () => {
  const values = (name: string): string[] => {
    const e = (definitions[name] as unknown as { type: { value: Array<{ name: string; number: number }> } }).type.value;
    return [...e].sort((a, b) => a.number - b.number).map((v, i) => (v.number === i ? v.name : `gap at ${i}`));
  };
  test("Tier and TaskStatus, number by number", () => {
    expect(TIER_NAMES).toEqual(values("tq.v1.Tier"));
    expect(TASK_STATUS_NAMES).toEqual(values("tq.v1.TaskStatus"));
  });
});
