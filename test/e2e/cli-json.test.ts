// `--json` wherever a script reads what the CLI prints: every command that prints data takes it
// and prints one JSON document on stdout (exit codes as in text), on a pipe and on a terminal.
// Real CLI processes against a real broker.

import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { runCli, runCliOnTerminal } from "../helpers/cli.ts";

// Each test starts several CLI processes (~150-400 ms each on a loaded 2-core machine): more than
// bun's 5 s default, which measures the machine, not the CLI.
setDefaultTimeout(30_000);

let broker: TestBroker;
let dir: string;
let url: string;

beforeAll(async () => {
  broker = await startBroker();
  url = `tq://127.0.0.1:${broker.port}`;
  dir = mkdtempSync(join(tmpdir(), "tq-cli-json-"));
});

afterAll(async () => {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function json(args: readonly string[], exitCode = 0): Promise<Record<string, unknown>> {
  const r = await runCli([...args, "--json"], { cwd: dir });
  expect(r.stderr).toBe("");
  expect(r.exitCode).toBe(exitCode);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe("--json on every command that prints data", () => {
  test("submit, status, cancel, retry, tasks list, stats, workers", async () => {
    const sent = await json(["submit", "j.test", "--payload", '{"n":1}', "--delay", "1h", "--url", url]);
    const id = String(sent.id);
    expect(sent).toEqual({ id: expect.any(String), status: "scheduled", duplicate: false });
    expect((await json(["status", id, "--url", url])).status).toBe("scheduled");
    expect((await json(["cancel", id, "--url", url])).status).toBe("cancelled");
    expect((await json(["retry", id, "--url", url])).status).toBe("pending");
    const page = await json(["tasks", "list", "--url", url]);
    expect((page.tasks as Array<{ id: string }>).map((t) => t.id)).toContain(id);
    expect(typeof (await json(["stats", "--url", url])).uptimeMs).toBe("number");
    const workers = JSON.parse((await runCli(["workers", "--url", url, "--json"], { cwd: dir })).stdout) as unknown;
    expect(Array.isArray(workers)).toBe(true);
  });

  test("version and config print", async () => {
    expect((await json(["version"])).name).toBe("tq-broker");
    expect((await json(["config", "print"])).broker).toBeDefined();
  });

  test("config check --json: the verdict, problems and warnings as one document, exit 0 or 78", async () => {
    const good = join(dir, "good.yaml");
    writeFileSync(good, "auth:\n  api_keys:\n    - { name: app, role: producer, key: \"json-test-key-0123456789\" }\n");
    const ok = await json(["config", "check", good]);
    expect(ok.valid).toBe(true);
    expect(ok.file).toBe(good);
    expect(ok.problems).toEqual([]);
    expect(ok.warnings).toEqual([expect.objectContaining({ path: "auth.enabled" })]);
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "broker:\n  port: abc\n  prot: 1\n");
    const refused = await json(["config", "check", bad], 78);
    expect(refused.valid).toBe(false);
    expect(refused.problems).toEqual([
      { path: "broker.port", message: expect.stringContaining('expected an integer 0-65535, got "abc"') },
      { path: "broker.prot", message: expect.stringContaining("unknown key") },
    ]);
  });

  test("on a terminal too, --json is plain JSON", async () => {
    const r = await runCliOnTerminal(["stats", "--url", url, "--json"], { cwd: dir });
    expect(r.exitCode).toBe(0);
    expect(r.output).not.toContain("\x1b");
    expect(typeof (JSON.parse(r.output) as { uptimeMs: unknown }).uptimeMs).toBe("number");
  });
});

describe("config print of a PostgreSQL URL (real CLI process)", () => {
  test("the password never printed, the rest of the URL kept", async () => {
    const r = await runCli(["config", "print", "--json"], { cwd: dir, env: { TQ_PERSISTENCE_POSTGRES_URL: "postgres://tq:hunter2-pw@db:5432/tq?sslmode=require" } });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).not.toContain("hunter2");
    const printed = JSON.parse(r.stdout) as { persistence: { postgres: { url: string } } };
    expect(printed.persistence.postgres.url).toBe("postgres://tq:***@db:5432/tq?sslmode=require");
  });
});
