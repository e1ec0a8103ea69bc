// Bad input over the socket: each case gets a clear error (or a clean close where the framing is
// lost), and after every one a second client still works and the broker has lost nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encodeRequest } from "../../src/protocol/frame-writer.ts";
import { RequestType } from "../../src/protocol/message-types.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawConn } from "../helpers/raw-conn.ts";
import { claim, expectKind, spec, status, submit } from "../helpers/wire.ts";

let broker: TestBroker;
let canary: RawConn;
let canaryTask: string;

beforeAll(async () => {
  broker = await startBroker();
  canary = await RawConn.connect(broker.port);
  canaryTask = await submit(canary, spec("canary", { queue: "canary" }));
});

afterAll(async () => {
  canary.close();
  await broker.stop();
});

function frame(type: number, body: number[] | Uint8Array, declaredLength?: number): Uint8Array {
  const bytes = new Uint8Array(5 + body.length);
  new DataView(bytes.buffer).setUint32(0, declaredLength ?? body.length + 1);
  bytes[4] = type;
  bytes.set(body, 5);
  return bytes;
}

/** A valid SubmitTask frame with its body cut short. */
function truncatedSubmit(): Uint8Array {
  const whole = encodeRequest({ kind: "SubmitTask", requestId: 77, task: spec("t") });
  const cut = whole.slice(0, whole.length - 4);
  new DataView(cut.buffer).setUint32(0, cut.length - 4);
  return cut;
}

interface Case {
  name: string;
  bytes: () => Uint8Array;
  /** The error code the broker answers with. */
  code: number;
  /** The broker closes the connection after answering. */
  closes: boolean;
}

const CASES: Case[] = [
  { name: "zero length", bytes: () => new Uint8Array([0, 0, 0, 0]), code: 1, closes: true },
  { name: "length over 16 MiB", bytes: () => frame(RequestType.Ping, [0, 0, 0, 1], 16 * 1024 * 1024 + 1), code: 2, closes: true },
  { name: "huge declared length", bytes: () => frame(RequestType.SubmitTask, [], 0xffffffff), code: 2, closes: true },
  { name: "unknown message type", bytes: () => frame(0x3e, [0, 0, 0, 5]), code: 3, closes: false },
  { name: "a response type sent as a request", bytes: () => frame(0x80, [0, 0, 0, 5]), code: 3, closes: false },
  { name: "body too short for a request id", bytes: () => frame(RequestType.Ping, [0, 1]), code: 4, closes: false },
  { name: "truncated SubmitTask body", bytes: truncatedSubmit, code: 4, closes: false },
  { name: "trailing bytes after a Ping", bytes: () => frame(RequestType.Ping, [0, 0, 0, 9, 1, 2, 3]), code: 4, closes: false },
  {
    name: "ClaimTask with a bad queue name",
    bytes: () => encodeRequest({ kind: "ClaimTask", requestId: 5, queues: ["no spaces allowed"], max: 1, waitMs: 0 }),
    code: 4,
    closes: false,
  },
  {
    name: "Hello with an unsupported version",
    bytes: () => encodeRequest({ kind: "Hello", requestId: 6, version: 99, apiKey: "", clientName: "x" }),
    code: 5,
    closes: true,
  },
];

describe("malformed input", () => {
  for (const c of CASES) {
    test(`${c.name}: error ${c.code}${c.closes ? " then close" : ", connection still usable"}; others unaffected`, async () => {
      const bad = await RawConn.connect(broker.port);
      bad.sendBytes(c.bytes());
      const error = expectKind(await bad.next(), "Error");
      expect(error.code).toBe(c.code);
      expect(error.message.length).toBeGreaterThan(10);
      if (c.closes) {
        await bad.waitClosed();
      } else {
        expectKind(await bad.call({ kind: "Ping" }), "Pong");
        bad.close();
      }
      expectKind(await canary.call({ kind: "Ping" }), "Pong");
      expect((await status(canary, canaryTask)).status).toBe("pending");
    });
  }

  test("bytes split across many writes still make one valid request", async () => {
    const conn = await RawConn.connect(broker.port);
    const bytes = encodeRequest({ kind: "SubmitTask", requestId: 9, task: spec("split", { queue: "split" }) });
    for (const b of bytes) conn.sendBytes(Uint8Array.of(b));
    expectKind(await conn.next(), "Submitted");
    expect((await claim(conn, { queues: ["split"] })).length).toBe(1);
    conn.close();
  });

  test("the canary's task was never touched by any of it", async () => {
    const [task] = await claim(canary, { queues: ["canary"] });
    expect(task?.id).toBe(canaryTask);
  });
});
