// Exit codes of the task commands through the real CLI against a real broker: values the CLI can
// check alone exit 64 before anything is sent; `submit --wait` that runs out exits 75 and never
// prints the task as finished (text: only the id; --json: the task's real status, timedOut).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "../../src/index.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { runCli, type CliResult } from "../helpers/cli.ts";

let broker: TestBroker;
let dir: string;
let url: string;

beforeAll(async () => {
  broker = await startBroker();
  url = `tq://127.0.0.1:${broker.port}`;
  dir = mkdtempSync(join(tmpdir(), "tq-cli-exit-"));
});

afterAll(async () => {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

function cli(...args: string[]): Promise<CliResult> {
  return runCli([...args, "--url", url], { cwd: dir });
}

describe("client-side validation errors exit 64", () => {
  test("submit --priority urgent: 64 naming the flag, and nothing is submitted", async () => {
    for (const priority of ["urgent", "256", "-1"]) {
      const r = await cli("submit", "x", "--priority", priority);
      expect({ priority, exitCode: r.exitCode, stdout: r.stdout }).toEqual({ priority, exitCode: 64, stdout: "" });
      expect(r.stderr).toStartWith("tq-broker submit: --priority: expected high, normal, low or 0-255, got ");
    }
    expect((await broker.app.broker.stats()).totals.submitted).toBe(0);
  });

  test("status, cancel and retry with an id that is not a UUID: 64 naming the id", async () => {
    for (const command of ["status", "cancel", "retry"]) {
      const r = await cli(command, "not-a-uuid");
      expect({ command, exitCode: r.exitCode, stdout: r.stdout }).toEqual({ command, exitCode: 64, stdout: "" });
      expect(r.stderr).toContain(`tq-broker ${command}: ID "not-a-uuid" is not a task id`);
    }
  });

  test("an unknown id that is a UUID is the broker's answer: NotFound, exit 1", async () => {
    const r = await cli("status", "0190f3a2-7b1c-7def-8a12-3456789abcde");
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("NotFoundError");
  });
});

describe("submit --wait that runs out", () => {
  test("--json: exit 75, one document with the real status and timedOut, not a finished task", async () => {
    const r = await cli("submit", "never.runs", "--queue", "nobody", "--wait", "--wait-timeout", "300ms", "--json");
    expect(r.exitCode).toBe(75);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({ status: "pending", result: null, timedOut: true, duplicate: false });
    expect(String(doc.id)).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.stderr).toContain(`timed out after 300 ms waiting for task ${String(doc.id)}: it is pending`);
  });

  test("text: exit 75, stdout holds only the id printed before waiting", async () => {
    const r = await cli("submit", "never.runs", "--queue", "nobody", "--wait", "--wait-timeout", "300ms");
    expect(r.exitCode).toBe(75);
    expect(r.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    expect(r.stderr).toContain("check later with: tq-broker status ");
  });

  test("a wait that ends in time: exit 0, status completed, timedOut false", async () => {
    const worker = new Worker({ url, env: {}, queues: ["exit-done"], handleSignals: false });
    worker.register("done", () => ({ ok: 1 }));
    await worker.start();
    try {
      const r = await cli("submit", "done", "--queue", "exit-done", "--wait", "--wait-timeout", "10s", "--json");
      expect(r.exitCode).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: "completed", result: { ok: 1 }, timedOut: false });
    } finally {
      await worker.stop();
    }
  });
});
