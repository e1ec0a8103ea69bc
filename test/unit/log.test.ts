// createLogger: JSON and text lines, level filtering, child fields, Error serialization.

import { describe, expect, test } from "bun:test";
import { createLogger, type LogLevel } from "../../src/log.ts";

const FIXED = new Date("2026-01-02T03:04:05.678Z");

function capture(level: LogLevel, json: boolean) {
  const lines: string[] = [];
  const log = createLogger({ level, json, sink: (l) => lines.push(l), now: () => FIXED });
  return { log, lines };
}

describe("logger", () => {
  test("JSON lines carry ts, level, msg and fields", () => {
    const { log, lines } = capture("debug", true);
    log.info("started", { port: 6379, host: "127.0.0.1" });
    expect(lines).toEqual(['{"ts":"2026-01-02T03:04:05.678Z","level":"info","msg":"started","port":6379,"host":"127.0.0.1"}']);
  });

  test("levels below the threshold are dropped; enabled() agrees", () => {
    const { log, lines } = capture("warn", true);
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    expect(lines.map((l) => (JSON.parse(l) as { level: string }).level)).toEqual(["warn", "error"]);
    expect(log.enabled("info")).toBe(false);
    expect(log.enabled("error")).toBe(true);
  });

  test("a filtered call does not touch its fields", () => {
    const { log, lines } = capture("error", true);
    let read = 0;
    const fields = {
      get costly() {
        read++;
        return 1;
      },
    };
    log.debug("x", fields);
    expect(read).toBe(0);
    expect(lines).toHaveLength(0);
  });

  test("child loggers add their fields; call fields win; frame keys are not overwritten", () => {
    const { log, lines } = capture("info", true);
    log.child({ component: "net", conn: 1 }).child({ conn: 2 }).info("hi", { msg: "field", extra: true });
    expect(JSON.parse(lines[0] ?? "")).toEqual({ ts: FIXED.toISOString(), level: "info", msg: "hi", component: "net", conn: 2, field_msg: "field", extra: true });
  });

  test("Errors keep message, stack, code and cause", () => {
    const { log, lines } = capture("info", true);
    const err = Object.assign(new Error("disk full", { cause: new Error("ENOSPC") }), { code: "ENOSPC" });
    log.error("commit failed", { err });
    const parsed = JSON.parse(lines[0] ?? "") as { err: { message: string; stack: string; code: string; cause: { message: string } } };
    expect(parsed.err.message).toBe("disk full");
    expect(parsed.err.stack).toContain("disk full");
    expect(parsed.err.code).toBe("ENOSPC");
    expect(parsed.err.cause.message).toBe("ENOSPC");
  });

  test("a cyclic field does not throw", () => {
    const { log, lines } = capture("info", true);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    log.info("x", { cyclic });
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({ msg: "x" });
  });

  test("text lines are readable: time, level, message, key=value, then the stack", () => {
    const { log, lines } = capture("info", false);
    log.warn("slow client", { conn: 7, addr: "127.0.0.1:5000", note: "two words" });
    expect(lines[0]).toBe('2026-01-02T03:04:05.678Z WARN  slow client conn=7 addr=127.0.0.1:5000 note="two words"');
    log.error("failed", { err: new Error("bad") });
    expect(lines[1]?.split("\n")[0]).toBe("2026-01-02T03:04:05.678Z ERROR failed err=bad");
    expect(lines[1]).toContain("\n    Error: bad");
  });

  test("an undefined field is left out of a text line, as of a JSON line", () => {
    const text = capture("info", false);
    text.log.info("store opened", { pending: 0, queues: undefined, path: "/d" });
    expect(text.lines[0]).toBe("2026-01-02T03:04:05.678Z INFO  store opened pending=0 path=/d");
    const json = capture("info", true);
    json.log.info("store opened", { pending: 0, queues: undefined });
    expect(json.lines[0]).not.toContain("queues");
  });
});
