// The worker stream's hand-written encoder (src/grpc/work-codec.ts) against proto-loader's, the
// reference: tasks pushed and report acks (WorkResponse) on random messages — every field set as
// the broker's deliveries are, or some absent — give the same bytes; every other message, and
// values it does not take, are proto-loader's. Seeded, so a failure repeats.
import { describe, expect, test } from "bun:test";
import type { MethodDefinition } from "@grpc/proto-loader";
import { protoDefinitions } from "../../../src/grpc/proto-files.ts";
import { CLAIMED_TASK, ERROR_MESSAGE, FAIL_OUTCOME, fastWorkMethod, WORK_FAST_PATHS } from "../../../src/grpc/work-codec.ts";
import { bytes, chance, int, outcome, pick, text, uint32, uint64 } from "../../helpers/wire-fuzz.ts";

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
