// The bench's default pipeline depth: about 3,200 tasks in flight per producer, 8 to 32 frames.

import { expect, test } from "bun:test";
import { defaultWindow } from "../../../src/cli/bench-command.ts";

test("--window defaults to ~3,200 tasks in flight, never fewer than 8 frames nor more than 32", () => {
  expect([1, 50, 100, 200, 400, 1000, 10_000].map(defaultWindow)).toEqual([32, 32, 32, 16, 8, 8, 8]);
});
