// protocol/ keeps its own copy of the task statuses (it imports nothing): this test keeps the copy
// equal to the rules' list, a stored Task assignable to the wire TaskInfo, and the worker command
// table as the protocol document gives it.

import { expect, test } from "bun:test";
import type { TaskInfo } from "../../../src/protocol/messages.ts";
import { readFileSync } from "node:fs";
import { TASK_STATUS_BYTE, WIRE_TASK_STATUSES, WORKER_COMMAND_BYTE, WORKER_COMMANDS } from "../../../src/protocol/wire-values.ts";
import { TASK_STATUSES, type Task } from "../../../src/rules/task.ts";

test("wire statuses are the store's statuses, in the same order", () => {
  expect([...WIRE_TASK_STATUSES]).toEqual([...TASK_STATUSES]);
  TASK_STATUSES.forEach((status, i) => expect(TASK_STATUS_BYTE[status]).toBe(i));
});

test("a stored Task can be sent as a TaskInfo without conversion", () => {
  const task: Task = {
    id: "01936f0e-7a3c-7d21-9b4e-3f2a1c5d8e90",
    status: "pending",
    type: "t",
    queue: "default",
    payload: new Uint8Array(0),
    payloadIsJson: false,
    priority: 150,
    runAtMs: null,
    maxRetries: 3,
    leaseMs: 30_000,
    idempotencyKey: null,
    attempts: 0,
    result: null,
    resultIsJson: false,
    error: null,
    workerId: null,
    createdAtMs: 1,
    updatedAtMs: 1,
    startedAtMs: null,
    finishedAtMs: null,
    leaseExpiresAtMs: null,
  };
  // The assignment is the check (tsc fails if the shapes drift); the key comparison catches extra fields.
  const info: TaskInfo = task;
  expect(Object.keys(info).sort()).toEqual(Object.keys(task).sort());
});

test("worker commands: one name -> byte table, its bytes as docs/PROTOCOL.md gives them, decoders read it in byte order", () => {
  expect({ ...WORKER_COMMAND_BYTE }).toEqual({ none: 0, quiet: 1, shutdown: 2 });
  expect([...WORKER_COMMANDS]).toEqual(["none", "quiet", "shutdown"]);
  const doc = readFileSync(new URL("../../../docs/PROTOCOL.md", import.meta.url), "utf8");
  for (const [name, byte] of Object.entries(WORKER_COMMAND_BYTE)) expect(doc).toContain(`${byte} = \`${name}\``);
});
