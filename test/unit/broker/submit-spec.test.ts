// A client's task description -> a stored task: defaults, limits, and errors naming the field.
import { describe, expect, test } from "bun:test";
import { SpecFieldError, toNewTask } from "../../../src/broker/submit-spec.ts";
import { BrokerError, ErrorCode } from "../../../src/protocol/errors.ts";

const defaults = { leaseMs: 30_000, maxRetries: 3 };
const NOW = 1_700_000_000_000;

function errorOf(fn: () => unknown): BrokerError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BrokerError) return err;
    throw err;
  }
  throw new Error("expected a BrokerError");
}

describe("toNewTask", () => {
  test("fills the broker's defaults", () => {
    const task = toNewTask({ type: "email.send" }, defaults, NOW);
    expect(task).toEqual({
      type: "email.send",
      queue: "default",
      payload: new Uint8Array(0),
      payloadIsJson: false,
      priority: 150,
      runAtMs: null,
      maxRetries: 3,
      leaseMs: 30_000,
      idempotencyKey: null,
    });
  });

  test("tier names and numbers both give a priority", () => {
    expect(toNewTask({ type: "t", priority: "high" }, defaults, NOW).priority).toBe(255);
    expect(toNewTask({ type: "t", priority: "low" }, defaults, NOW).priority).toBe(50);
    expect(toNewTask({ type: "t", priority: 7 }, defaults, NOW).priority).toBe(7);
  });

  test("delay becomes run_at; a run_at in the past means ready now", () => {
    expect(toNewTask({ type: "t", delayMs: 5000 }, defaults, NOW).runAtMs).toBe(NOW + 5000);
    expect(toNewTask({ type: "t", runAtMs: NOW - 1 }, defaults, NOW).runAtMs).toBeNull();
  });

  test.each([
    [{ type: "" }, "type"],
    [{ type: "x".repeat(256) }, "type"],
    [{ type: "t", queue: "has space" }, "queue"],
    [{ type: "t", priority: 256 }, "priority"],
    [{ type: "t", priority: "urgent" }, "priority"],
    [{ type: "t", maxRetries: -1 }, "maxRetries"],
    [{ type: "t", leaseMs: 5 }, "leaseMs"],
    [{ type: "t", runAtMs: NOW, delayMs: 1 }, "runAtMs"],
    [{ type: "t", runAtMs: 9e15 }, "runAtMs"],
    [{ type: "t", delayMs: -1 }, "delayMs"],
    [{ type: "t", idempotencyKey: "k".repeat(300) }, "idempotencyKey"],
  ])("%j is rejected naming %s (the canonical name, the TCP protocol's)", (spec, field) => {
    const err = errorOf(() => toNewTask(spec, defaults, NOW));
    expect(err.code).toBe(ErrorCode.InvalidField);
    expect(err.field).toBe(field);
    expect(err.message).toContain(field);
  });

  test("batch items carry their index in the field name", () => {
    const err = errorOf(() => toNewTask({ type: "t", priority: 999 }, defaults, NOW, "tasks[3]."));
    expect(err.field).toBe("tasks[3].priority");
  });

  test("a field error re-spelled for another door names the field, and any other it mentions, that door's way", () => {
    const err = errorOf(() => toNewTask({ type: "t", runAtMs: NOW, delayMs: 1 }, defaults, NOW, "tasks[2]."));
    expect(err).toBeInstanceOf(SpecFieldError);
    expect(err.message).toBe("tasks[2].runAtMs: give runAtMs or delayMs, not both");
    const snake = (err as SpecFieldError).spelled((field) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
    expect({ code: snake.code, field: snake.field, message: snake.message }).toEqual({
      code: ErrorCode.InvalidField,
      field: "tasks[2].run_at_ms",
      message: "tasks[2].run_at_ms: give run_at_ms or delay_ms, not both",
    });
  });
});
