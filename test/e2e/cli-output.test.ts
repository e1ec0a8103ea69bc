// The CLI's output is complete whatever stdout is: a pipe whose reader starts late (the process
// used to exit with 64 KiB of 730 KB written), a file, and a terminal (a pty made by `script`).
// Real CLI processes against a real broker holding 1,000 tasks.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "../../src/index.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { CLI_ENTRY } from "../helpers/cli.ts";

let broker: TestBroker;
let dir: string;
let url: string;
/** The complete output, read with nobody slowing the reader down. */
let expectedJson: string;

const TASKS = 1000;

beforeAll(async () => {
  broker = await startBroker();
  url = `tq://127.0.0.1:${broker.port}`;
  dir = mkdtempSync(join(tmpdir(), "tq-cli-output-"));
  const client = new Client({ url, env: {} });
  try {
    const payload = { text: "p".repeat(500) };
    for (let i = 0; i < TASKS; i += 250) {
      await client.submitMany(Array.from({ length: 250 }, (_, j) => ({ type: "bulk", payload: { ...payload, n: i + j } })));
    }
  } finally {
    await client.close();
  }
  const proc = Bun.spawn([process.execPath, CLI_ENTRY, ...listArgs("--json")], { stdout: "pipe", stderr: "pipe", env: cleanEnv() });
  expectedJson = await new Response(proc.stdout).text();
  expect(await proc.exited).toBe(0);
  expect(JSON.parse(expectedJson).tasks).toHaveLength(TASKS);
  expect(expectedJson.length).toBeGreaterThan(600_000);
});

afterAll(async () => {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

function cleanEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith("TQ_")));
}

function listArgs(...extra: string[]): string[] {
  return ["tasks", "list", "--limit", String(TASKS), "--url", url, ...extra];
}

const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

/** Runs `shell` (with $CLI set to the CLI command line) under sh; resolves with its exit code. */
async function sh(shell: string): Promise<number> {
  const cli = [process.execPath, CLI_ENTRY].map(quote).join(" ");
  const proc = Bun.spawn(["sh", "-c", shell.replaceAll("$CLI", cli)], { cwd: dir, env: cleanEnv(), stdout: "ignore", stderr: "inherit" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  const code = await proc.exited;
  clearTimeout(timer);
  return code;
}

describe("CLI output is never cut", () => {
  test("a pipe whose reader starts 0.5 s late gets all of tasks list --json, and the pipeline exits 0", async () => {
    const out = join(dir, "pipe.json");
    const args = listArgs("--json").map(quote).join(" ");
    // set -o pipefail is not POSIX sh: the CLI's own status is written to a file instead.
    const code = await sh(`{ $CLI ${args}; echo $? > ${quote(`${out}.rc`)}; } | (sleep 0.5; cat > ${quote(out)})`);
    expect(code).toBe(0);
    expect(readFileSync(`${out}.rc`, "utf8").trim()).toBe("0");
    const got = readFileSync(out, "utf8");
    expect(got.length).toBe(expectedJson.length);
    expect(got).toBe(expectedJson);
  });

  test("the text table through a slow pipe is complete too", async () => {
    const out = join(dir, "pipe.txt");
    const args = listArgs().map(quote).join(" ");
    expect(await sh(`$CLI ${args} | (sleep 0.5; cat > ${quote(out)})`)).toBe(0);
    const lines = readFileSync(out, "utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(TASKS + 1);
    expect(lines[0]).toStartWith("ID");
  });

  test("a reader that stops early (| head -c 100) ends the CLI at once, without a crash", async () => {
    const out = join(dir, "head.txt");
    const err = join(dir, "head.err");
    const args = listArgs("--json").map(quote).join(" ");
    const t0 = performance.now();
    expect(await sh(`$CLI ${args} 2> ${quote(err)} | head -c 100 > ${quote(out)}`)).toBe(0);
    expect(performance.now() - t0).toBeLessThan(20_000);
    expect(readFileSync(out, "utf8")).toBe(expectedJson.slice(0, 100));
    expect(readFileSync(err, "utf8")).not.toContain("error");
  });

  test("a file gets all of it", async () => {
    const out = join(dir, "file.json");
    expect(await sh(`$CLI ${listArgs("--json").map(quote).join(" ")} > ${quote(out)}`)).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(expectedJson);
  });

  test("a terminal (pty) gets all of it", async () => {
    const out = join(dir, "tty.txt");
    const inner = `${[process.execPath, CLI_ENTRY].map(quote).join(" ")} ${listArgs("--json").map(quote).join(" ")}`;
    // script(1) runs the command on a pseudo-terminal and copies what it printed to the file.
    expect(await sh(`script -qec ${quote(inner)} ${quote(out)} < /dev/null`)).toBe(0);
    const got = readFileSync(out, "utf8").replaceAll("\r\n", "\n");
    expect(got).toContain(expectedJson.trimEnd());
  });
});
