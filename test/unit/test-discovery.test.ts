// `bun test` from the repository root runs bun's tests only: the Node.js-only suite in test/node/
// (run by `node --test` in .ci/run) is left out by bunfig.toml's pathIgnorePatterns, while every
// other test directory is still found. Spawns bun's runner on single files to check discovery.

import { describe, expect, test } from "bun:test";
import { REPO_ROOT } from "../helpers/cli.ts";

async function bunTest(path: string): Promise<{ exitCode: number; output: string }> {
  const proc = Bun.spawn([process.execPath, "test", path], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
  const [out, err, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { exitCode, output: out + err };
}

describe("test discovery from the repository root", () => {
  test("bun's runner does not pick up the Node-only suite in test/node/", async () => {
    const r = await bunTest("./test/node/client.test.mjs");
    expect(r.output).toContain("did not match any test files");
    expect(r.output).not.toContain("Ran ");
  }, 70_000);

  test("it still finds the other tests", async () => {
    const r = await bunTest("./test/unit/rules/backoff.test.ts");
    expect(r.exitCode).toBe(0);
    expect(r.output).toMatch(/Ran \d+ tests? across 1 file/);
  }, 70_000);
});
