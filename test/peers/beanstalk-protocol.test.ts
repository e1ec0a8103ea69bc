// The beanstalk protocol bytes of the peer bench's client (bench/peers/beanstalk-protocol.ts):
// commands encoded exactly as protocol.txt writes them, and replies parsed from a stream split at
// every offset, bodies holding CRLF included; bytes beanstalkd never sends are refused.

import { describe, expect, test } from "bun:test";
import {
  encodeDelete,
  encodeIgnore,
  encodePut,
  encodeRelease,
  encodeReserve,
  encodeStats,
  encodeUse,
  encodeWatch,
  parseStats,
  ReplyParser,
  type Reply,
} from "../../bench/peers/beanstalk-protocol.ts";

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("commands", () => {
  test("each is the exact line protocol.txt gives, CRLF-terminated; put carries its body and a CRLF", () => {
    expect(text(encodePut(bytes("hi\r\nyo"), { pri: 1024, delaySecs: 0, ttrSecs: 30 }))).toBe("put 1024 0 30 6\r\nhi\r\nyo\r\n");
    expect(text(encodePut(new Uint8Array(0), { pri: 0, delaySecs: 5, ttrSecs: 1 }))).toBe("put 0 5 1 0\r\n\r\n");
    expect(text(encodeReserve(0))).toBe("reserve-with-timeout 0\r\n");
    expect(text(encodeReserve(3))).toBe("reserve-with-timeout 3\r\n");
    expect(text(encodeReserve(null))).toBe("reserve\r\n");
    expect(text(encodeDelete(42))).toBe("delete 42\r\n");
    expect(text(encodeRelease(7, 100, 2))).toBe("release 7 100 2\r\n");
    expect(text(encodeUse("bench-x.1"))).toBe("use bench-x.1\r\n");
    expect(text(encodeWatch("a+b/c;d$e_(f)"))).toBe("watch a+b/c;d$e_(f)\r\n");
    expect(text(encodeIgnore("default"))).toBe("ignore default\r\n");
    expect(text(encodeStats())).toBe("stats\r\n");
  });

  test("values the protocol cannot carry are refused, naming what was wrong", () => {
    expect(() => encodeUse("-lead")).toThrow(/tube name.*"-lead"/);
    expect(() => encodeWatch("has space")).toThrow(/tube name/);
    expect(() => encodeWatch("x".repeat(201))).toThrow(/tube name/);
    expect(() => encodeWatch("")).toThrow(/tube name/);
    expect(() => encodePut(new Uint8Array(1), { pri: 2 ** 32, delaySecs: 0, ttrSecs: 1 })).toThrow(/pri: .*4294967296/);
    expect(() => encodePut(new Uint8Array(1), { pri: 0, delaySecs: -1, ttrSecs: 1 })).toThrow(/delay/);
    expect(() => encodeDelete(0)).toThrow(/job id/);
    expect(() => encodeRelease(1.5, 0, 0)).toThrow(/job id/);
  });
});

/** Every reply of `stream`, fed in pieces cut at the given offsets. */
function parseCut(stream: Uint8Array, cuts: readonly number[]): Reply[] {
  const parser = new ReplyParser();
  const out: Reply[] = [];
  let from = 0;
  for (const at of [...cuts, stream.byteLength]) {
    parser.push(stream.subarray(from, at));
    from = at;
    for (let r = parser.next(); r !== null; r = parser.next()) out.push(r);
  }
  return out;
}

describe("replies", () => {
  const stream = bytes("INSERTED 1\r\nRESERVED 1 6\r\nhi\r\nyo\r\nTIMED_OUT\r\nDELETED\r\nOK 12\r\n---\npid: 12\n\r\nNOT_FOUND\r\nRESERVED 9 0\r\n\r\n");
  const expected: Reply[] = [
    { word: "INSERTED", args: ["1"], body: null },
    { word: "RESERVED", args: ["1", "6"], body: bytes("hi\r\nyo") },
    { word: "TIMED_OUT", args: [], body: null },
    { word: "DELETED", args: [], body: null },
    { word: "OK", args: ["12"], body: bytes("---\npid: 12\n") },
    { word: "NOT_FOUND", args: [], body: null },
    { word: "RESERVED", args: ["9", "0"], body: new Uint8Array(0) },
  ];

  test("a stream split at any one offset, or byte by byte, parses to the same replies", () => {
    expect(parseCut(stream, [])).toEqual(expected);
    for (let at = 1; at < stream.byteLength; at++) expect(parseCut(stream, [at])).toEqual(expected);
    expect(parseCut(stream, Array.from({ length: stream.byteLength - 1 }, (_, i) => i + 1))).toEqual(expected);
  });

  test("a body is a copy: later bytes in the parser's buffer do not change it", () => {
    const parser = new ReplyParser();
    parser.push(bytes("RESERVED 1 3\r\nabc\r\n"));
    const first = parser.next()!;
    // Everything consumed: the next push reuses the buffer from its start.
    parser.push(bytes("RESERVED 2 3\r\nxyz\r\n"));
    expect(text(parser.next()!.body!)).toBe("xyz");
    expect(text(first.body!)).toBe("abc");
  });

  test("many replies arriving at once grow the buffer past its first size and all come out", () => {
    const one = "RESERVED 123456 100\r\n" + "a".repeat(100) + "\r\n";
    const parser = new ReplyParser();
    parser.push(bytes(one.repeat(2000)));
    let count = 0;
    for (let r = parser.next(); r !== null; r = parser.next()) {
      expect(r.body!.byteLength).toBe(100);
      count++;
    }
    expect(count).toBe(2000);
  });

  test("bytes beanstalkd never sends are an error, not a misread", () => {
    const noCrlfAfterBody = new ReplyParser();
    noCrlfAfterBody.push(bytes("RESERVED 1 2\r\nabXY"));
    expect(() => noCrlfAfterBody.next()).toThrow(/not followed by CRLF/);
    const endlessLine = new ReplyParser();
    endlessLine.push(bytes("X".repeat(2000)));
    expect(() => endlessLine.next()).toThrow(/without CRLF/);
    const noSize = new ReplyParser();
    noSize.push(bytes("OK abc\r\n"));
    expect(() => noSize.next()).toThrow(/no chunk size/);
  });

  test("a stats chunk reads as its key: value lines", () => {
    expect(parseStats(bytes("---\ncurrent-jobs-ready: 3\npid: 77\nversion: \"1.12\"\n"))).toEqual({ "current-jobs-ready": "3", pid: "77", version: '"1.12"' });
  });
});
