// Priority parsing: tier names and numbers accepted, everything else refused with InvalidField naming it.

import { expect, test } from "bun:test";
import { BrokerError, ErrorCode } from "../../../src/protocol/errors.ts";
import { parsePriority } from "../../../src/rules/priority.ts";

test("tier names (any case) give the tier default; numbers 0-255 pass through", () => {
  expect(parsePriority("high")).toBe(255);
  expect(parsePriority("Normal")).toBe(150);
  expect(parsePriority(" LOW ")).toBe(50);
  expect(parsePriority(0)).toBe(0);
  expect(parsePriority(255)).toBe(255);
  expect(parsePriority("200")).toBe(200);
  expect(parsePriority(undefined)).toBe(150);
});

test.each([256, -1, 1.5, Number.NaN, "urgent", "", "1e2", true, {}])("rejects %p with InvalidField naming it", (value) => {
  let caught: unknown;
  try {
    parsePriority(value, "tasks[3].priority");
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(BrokerError);
  const err = caught as BrokerError;
  expect(err.code).toBe(ErrorCode.InvalidField);
  expect(err.field).toBe("tasks[3].priority");
  expect(err.message).toContain("tasks[3].priority");
  if (typeof value === "number" || typeof value === "string") expect(err.message).toContain(typeof value === "string" ? JSON.stringify(value) : String(value));
});
