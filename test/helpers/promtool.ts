// Finds Prometheus's `promtool` for tests: on PATH, else unpacked from Debian's `prometheus`
// package into node_modules/.cache (apt-get download + dpkg-deb -x: no install, no service
// started). Resolves null with the reason when neither works, so the caller can skip loudly.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./cli.ts";

const CACHE_DIR = join(REPO_ROOT, "node_modules/.cache/tq-promtool");
const CACHED = join(CACHE_DIR, "usr/bin/promtool");

async function run(cmd: string[], cwd: string): Promise<{ ok: boolean; output: string }> {
  try {
    const proc = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 120_000);
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    return { ok: code === 0, output: `${out}${err}`.trim() };
  } catch (err) {
    return { ok: false, output: String(err) };
  }
}

export async function findPromtool(): Promise<{ path: string } | { path: null; reason: string }> {
  const onPath = Bun.which("promtool");
  if (onPath !== null) return { path: onPath };
  if (existsSync(CACHED)) return { path: CACHED };
  const work = mkdtempSync(join(tmpdir(), "tq-promtool-"));
  try {
    let got = await run(["apt-get", "download", "prometheus"], work);
    // A machine whose package lists were never fetched knows no "prometheus" yet.
    if (!got.ok) {
      await run(["apt-get", "update"], work);
      got = await run(["apt-get", "download", "prometheus"], work);
    }
    const deb = readdirSync(work).find((f) => f.endsWith(".deb"));
    if (!got.ok || deb === undefined) return { path: null, reason: `apt-get download prometheus failed: ${got.output.slice(-300)}` };
    mkdirSync(CACHE_DIR, { recursive: true });
    const unpacked = await run(["dpkg-deb", "-x", join(work, deb), CACHE_DIR], work);
    if (!unpacked.ok || !existsSync(CACHED)) return { path: null, reason: `dpkg-deb -x failed: ${unpacked.output.slice(-300)}` };
    return { path: CACHED };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
