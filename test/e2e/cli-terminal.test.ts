// Colours are for people at a terminal: `tasks list`, `workers`, `stats` and `status` colour their
// output on a pseudo-terminal (script(1)) and never on a pipe, with NO_COLOR set or with
// --no-color; tables stay aligned either way, and --json is the same document everywhere.
// Real CLI processes against a real broker.

import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "../../src/index.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { runCli, runCliOnTerminal } from "../helpers/cli.ts";

// Each test starts several CLI processes (~150-400 ms each on a loaded 2-core machine): more than
// bun's 5 s default, which measures the machine, not the CLI.
setDefaultTimeout(30_000);

let broker: TestBroker;
let dir: string;
let url: string;
let cancelledId: string;
/** Kept open: the worker it registers must stay connected (state "run"). */
let client: Client;

const ESC = "\x1b[";
/** Written here, not imported: the test must not trust the code it checks. */
const stripAnsi = (text: string): string => text.replace(/\x1b\[[0-9;]*m/g, "");

beforeAll(async () => {
  broker = await startBroker();
  url = `tq://127.0.0.1:${broker.port}`;
  dir = mkdtempSync(join(tmpdir(), "tq-cli-tty-"));
  client = new Client({ url, env: {} });
  await client.submit("email.send", { to: "ada@example.com" }, { queue: "emails" });
  await client.submit("report.build-a-long-type-name", null, { priority: "high" });
  cancelledId = (await client.submit("x", null, { delay: 60_000 })).id;
  await client.cancel(cancelledId);
  await client.call(
    { kind: "RegisterWorker", workerId: "w-tty", hostname: "h", pid: 7, queues: ["emails", "default"], concurrency: 4, version: "t", labels: [] },
    "Registered",
  );
});

afterAll(async () => {
  await client.close();
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Each header word starts a column: in every row the cell at that offset starts right after a
 * space. A colour escape counted as width would push the later cells off these offsets.
 */
function expectAligned(text: string): void {
  const lines = stripAnsi(text).trimEnd().split("\n");
  const header = lines[0]!;
  const starts = [...header.matchAll(/\S+/g)].map((m) => m.index!).filter((i) => i > 0 && header[i - 1] === " " && header[i - 2] === " ");
  expect(starts.length).toBeGreaterThan(0);
  for (const row of lines.slice(1)) {
    for (const at of starts) {
      expect(row[at - 1]).toBe(" ");
      expect(row[at]).not.toBe(" ");
    }
  }
}

describe("tasks list", () => {
  test("on a terminal: bold header, statuses coloured, columns aligned", async () => {
    const r = await runCliOnTerminal(["tasks", "list", "--url", url], { cwd: dir });
    expect(r.exitCode).toBe(0);
    expect(r.output).toContain(`${ESC}1mID${ESC}22m`);
    expect(r.output).toContain(`${ESC}33mpending${ESC}39m`);
    expect(r.output).toContain(`${ESC}2mcancelled${ESC}22m`);
    expectAligned(r.output);
  });

  test("piped: the same table without one escape code", async () => {
    const piped = await runCli(["tasks", "list", "--url", url], { cwd: dir });
    expect(piped.exitCode).toBe(0);
    expect(piped.stdout).not.toContain("\x1b");
    expectAligned(piped.stdout);
    const tty = await runCliOnTerminal(["tasks", "list", "--url", url], { cwd: dir });
    expect(stripAnsi(tty.output).trim()).toBe(piped.stdout.trim());
  });

  test("NO_COLOR with any non-empty value, TERM=dumb, or --no-color (anywhere): no colour on a terminal", async () => {
    for (const [args, env] of [
      [["tasks", "list", "--url", url], { NO_COLOR: "1" }],
      [["tasks", "list", "--url", url], { NO_COLOR: "false" }],
      [["tasks", "list", "--url", url], { TERM: "dumb" }],
      [["tasks", "list", "--url", url, "--no-color"], {}],
      [["--no-color", "tasks", "list", "--url", url], {}],
    ] as const) {
      const r = await runCliOnTerminal(args, { cwd: dir, env });
      expect(r.exitCode).toBe(0);
      expect(r.output).toContain("pending");
      expect(r.output).not.toContain("\x1b");
      expectAligned(r.output);
    }
  });

  test("NO_COLOR set but empty does not count (no-color.org): colours stay", async () => {
    const r = await runCliOnTerminal(["tasks", "list", "--url", url], { cwd: dir, env: { NO_COLOR: "" } });
    expect(r.output).toContain(`${ESC}33mpending`);
  });

  test("--json on a terminal is the piped document, no escapes", async () => {
    const tty = await runCliOnTerminal(["tasks", "list", "--url", url, "--json"], { cwd: dir });
    const piped = await runCli(["tasks", "list", "--url", url, "--json"], { cwd: dir });
    expect(tty.output).not.toContain("\x1b");
    expect(JSON.parse(tty.output)).toEqual(JSON.parse(piped.stdout));
  });
});

describe("workers, stats, status", () => {
  test("workers: coloured state on a terminal, aligned; plain when piped", async () => {
    const tty = await runCliOnTerminal(["workers", "--url", url], { cwd: dir });
    expect(tty.exitCode).toBe(0);
    expect(tty.output).toContain(`${ESC}1mSTATE${ESC}22m`);
    expect(tty.output).toContain(`${ESC}32malive${ESC}39m`);
    expectAligned(tty.output);
    const piped = await runCli(["workers", "--url", url], { cwd: dir });
    expect(piped.stdout).not.toContain("\x1b");
    expect(piped.stdout).toContain("w-tty");
    expectAligned(piped.stdout);
  });

  test("stats: bold headers on a terminal, aligned values; plain when piped", async () => {
    const tty = await runCliOnTerminal(["stats", "--url", url], { cwd: dir });
    expect(tty.exitCode).toBe(0);
    expect(tty.output).toContain(`${ESC}1mstat${ESC}22m`);
    const first = stripAnsi(tty.output).split("\n\n")[0]!;
    expectAligned(first);
    const piped = await runCli(["stats", "--url", url], { cwd: dir });
    expect(piped.stdout).not.toContain("\x1b");
    expectAligned(piped.stdout.split("\n\n")[0]!);
  });

  test("status: the status coloured on a terminal, plain when piped or with NO_COLOR", async () => {
    const tty = await runCliOnTerminal(["status", cancelledId, "--url", url], { cwd: dir });
    expect(tty.exitCode).toBe(0);
    expect(tty.output).toContain(`${ESC}2mcancelled${ESC}22m`);
    const noColor = await runCliOnTerminal(["status", cancelledId, "--url", url], { cwd: dir, env: { NO_COLOR: "1" } });
    expect(noColor.output).not.toContain("\x1b");
    const piped = await runCli(["status", cancelledId, "--url", url], { cwd: dir });
    expect(piped.stdout).not.toContain("\x1b");
    expect(piped.stdout).toMatch(/^status:\s+cancelled$/m);
  });
});
