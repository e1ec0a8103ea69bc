// config/tq-broker.service as shipped in every archive: Type=notify (start returns once the broker
// listens), accepted by `systemd-analyze verify`, and no more exposed than the 3.0 it had before
// Type=notify. The notify protocol itself is tested against the binary in test/binary/.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { REPO_ROOT } from "../helpers/cli.ts";
import { runCommand } from "../helpers/run-command.ts";

const unit = readFileSync(resolve(REPO_ROOT, "config/tq-broker.service"), "utf8");
const analyze = Bun.which("systemd-analyze");
const dir = mkdtempSync(join(tmpdir(), "tq-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The unit as installed, but with ExecStart pointing at an executable that exists here. */
function installedCopy(): string {
  const path = join(dir, "tq-broker.service");
  writeFileSync(path, unit.replace("ExecStart=/usr/local/bin/tq-broker ", `ExecStart=${process.execPath} `));
  return path;
}

function settings(): string[] {
  return unit.split("\n").filter((line) => /^[A-Za-z]+=/.test(line));
}

describe("config/tq-broker.service", () => {
  test("waits for the broker's READY=1, accepted only from the broker's own pid", () => {
    expect(settings()).toContain("Type=notify");
    expect(settings()).toContain("NotifyAccess=main");
    expect(settings().filter((s) => s.startsWith("Type="))).toEqual(["Type=notify"]);
  });

  test.skipIf(analyze === null)("systemd-analyze verify finds nothing to complain about", async () => {
    const r = await runCommand([analyze!, "verify", installedCopy()], { cwd: dir });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test.skipIf(analyze === null)("systemd-analyze security: overall exposure 3.0 or better", async () => {
    const r = await runCommand([analyze!, "security", "--offline=true", installedCopy()], { cwd: dir });
    const exposure = /Overall exposure level for tq-broker\.service: (\d+\.\d)/.exec(r.stdout)?.[1];
    expect(exposure).toBeDefined();
    expect(Number(exposure)).toBeLessThanOrEqual(3.0);
  });
});
