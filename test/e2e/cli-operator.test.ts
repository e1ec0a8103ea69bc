// The operator commands through the real CLI process against a real broker's REST API: queues
// list|pause|resume|purge, workers quiet|stop, tasks retry|cancel|delete by filter with --dry-run,
// the question a pipe cannot answer, and a producer key refused.

import { afterAll, beforeAll, expect, test, setDefaultTimeout } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";
import { startHarness, type Harness } from "../helpers/http-harness.ts";

// Each test starts several CLI processes (~150-400 ms each on a loaded 2-core machine): more than
// bun's 5 s default, which measures the machine, not the CLI.
setDefaultTimeout(30_000);

const ADMIN = "cli-op-admin-key-0123456789abcd";
const PRODUCER = "cli-op-producer-key-0123456789a";
let h: Harness;
const cwd = mkdtempSync(join(tmpdir(), "tq-cli-op-"));

beforeAll(async () => {
  h = await startHarness({ apiKeys: [{ name: "ops", role: "admin", key: ADMIN }, { name: "shop", role: "producer", key: PRODUCER }] });
});
afterAll(async () => {
  await h.stop();
});

const cli = (args: string[], key = ADMIN) => runCli([...args, "--api-url", h.http.url, "--api-key", key], { cwd });

async function deadTasks(queue: string, type: string, n: number): Promise<string[]> {
  const out = await h.broker.submit(Array.from({ length: n }, () => ({ type, queue, maxRetries: 0 })));
  for (const lease of await h.broker.claim({ queues: [queue], workerId: "w-cli", max: n, waitMs: 0 })) {
    await h.broker.fail({ id: lease.task.id, token: lease.token }, { error: "boom", unrecoverable: false });
  }
  return out.map((o) => o.id);
}

test("tasks retry by filter: --dry-run counts, a pipe without --yes is refused, --yes re-runs exactly the matches", async () => {
  const mail = await deadTasks("mail", "email.send", 3);
  await deadTasks("mail", "email.other", 1);
  await deadTasks("reports", "email.send", 1);
  const dry = await cli(["tasks", "retry", "--status", "dead", "--queue", "mail", "--type", "email.send", "--dry-run"]);
  expect(dry.stdout).toContain("3 dead in queue mail of type email.send task(s) would be re-run");
  expect(dry.exitCode).toBe(0);
  const refused = await cli(["tasks", "retry", "--status", "dead", "--queue", "mail", "--type", "email.send"]);
  expect(refused.exitCode).toBe(64);
  expect(refused.stderr).toContain("--yes");
  expect((await h.broker.list({ status: "dead", limit: 100 })).tasks).toHaveLength(5);
  const run = await cli(["tasks", "retry", "--status", "dead", "--queue", "mail", "--type", "email.send", "--yes", "--json"]);
  expect(JSON.parse(run.stdout)).toEqual({ action: "retry", matched: 3, changed: 3, skipped: 0 });
  const pending = (await h.broker.list({ status: "pending", queue: "mail", limit: 100 })).tasks.map((t) => t.id).sort();
  expect(pending).toEqual([...mail].sort());
  expect((await h.broker.list({ status: "dead", limit: 100 })).tasks).toHaveLength(2);
});

test("tasks delete --older-than leaves newer tasks; a bulk action without --status is a usage error", async () => {
  await deadTasks("old", "t", 2);
  const none = await cli(["tasks", "delete", "--status", "dead", "--queue", "old", "--older-than", "1h", "--yes"]);
  expect(none.stdout).toContain("no dead in queue old older than 1h task matches");
  const all = await cli(["tasks", "delete", "--status", "dead", "--queue", "old", "--older-than", "0s", "--yes"]);
  expect(all.stdout).toContain("deleted 2 task(s)");
  expect((await h.broker.list({ queue: "old", limit: 10 })).tasks).toEqual([]);
  const usage = await cli(["tasks", "cancel", "--queue", "old"]);
  expect(usage.exitCode).toBe(64);
  expect(usage.stderr).toContain("--status");
});

test("tasks cancel --status in_progress ends running tasks of one type; an unknown --status is a usage error", async () => {
  await h.broker.submit([{ type: "crawl", queue: "bulk-run" }, { type: "crawl", queue: "bulk-run" }, { type: "index", queue: "bulk-run" }]);
  const leases = await h.broker.claim({ queues: ["bulk-run"], workerId: "w-run", max: 3, waitMs: 0 });
  expect(leases).toHaveLength(3);
  const run = await cli(["tasks", "cancel", "--status", "in_progress", "--type", "crawl", "--yes"]);
  expect(run.stdout).toContain("cancelled 2 task(s)");
  const left = (await h.broker.list({ status: "in_progress", queue: "bulk-run", limit: 10 })).tasks;
  expect(left.map((t) => t.type)).toEqual(["index"]);
  expect((await h.broker.list({ status: "cancelled", queue: "bulk-run", limit: 10 })).tasks).toHaveLength(2);
  const bad = await cli(["tasks", "retry", "--status", "deadd", "--dry-run"]);
  expect(bad.exitCode).toBe(64);
  expect(bad.stderr).toContain('--status: "deadd" is not one of pending, scheduled, in_progress, completed, failed, dead, cancelled');
});

test("queues list, pause, resume and purge", async () => {
  await h.broker.submit([{ type: "a", queue: "purgeable" }, { type: "b", queue: "purgeable", delayMs: 60_000 }]);
  expect((await cli(["queues", "pause", "purgeable"])).stdout).toContain("queue purgeable paused");
  expect(h.broker.isPaused("purgeable")).toBe(true);
  const list = await cli(["queues", "list"]);
  expect(list.stdout).toMatch(/purgeable\s+0\s+1\s+0\s+1\s+0\s+0\s+0\s+.*paused/);
  expect((await cli(["queues", "resume", "purgeable"])).stdout).toContain("resumed");
  expect(h.broker.isPaused("purgeable")).toBe(false);
  expect((await cli(["queues", "purge", "purgeable", "--dry-run"])).stdout).toContain("2 waiting task(s)");
  expect((await cli(["queues", "purge", "purgeable", "--yes"])).stdout).toContain("deleted 2 task(s) from queue purgeable");
  expect((await h.broker.list({ queue: "purgeable", limit: 10 })).tasks).toEqual([]);
});

test("workers quiet and stop; an unknown worker is an error naming it", async () => {
  h.broker.registerWorker({ id: "w-op", hostname: "h", pid: 1, queues: ["mail"], concurrency: 1, version: "1", labels: {} });
  expect((await cli(["workers", "quiet", "w-op"])).stdout).toContain("worker w-op: told to take no new tasks");
  expect(h.broker.workers.get("w-op")!.command).toBe("quiet");
  expect((await cli(["workers", "stop", "w-op"])).exitCode).toBe(0);
  expect(h.broker.workers.get("w-op")!.command).toBe("shutdown");
  const unknown = await cli(["workers", "stop", "nobody"]);
  expect(unknown.exitCode).toBe(1);
  expect(unknown.stderr).toContain("NotFound");
});

test("a producer key reads but may not act: Forbidden, exit 1, nothing changed", async () => {
  await deadTasks("guarded", "t", 1);
  expect((await cli(["queues", "list"], PRODUCER)).exitCode).toBe(0);
  const refused = await cli(["tasks", "retry", "--status", "dead", "--queue", "guarded", "--yes"], PRODUCER);
  expect(refused.exitCode).toBe(1);
  expect(refused.stderr).toContain("Forbidden");
  expect((await cli(["queues", "pause", "guarded"], PRODUCER)).stderr).toContain("Forbidden");
  expect((await h.broker.list({ status: "dead", queue: "guarded", limit: 10 })).tasks).toHaveLength(1);
  expect(h.broker.isPaused("guarded")).toBe(false);
});
