// The task subcommands of the CLI against a real broker: submit (with --wait), status, cancel,
// retry, tasks list, stats, workers, errors as one line + exit 1, and `worker --handlers`
// running a user's module in a child process until SIGTERM.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Client, Worker } from "../../src/index.ts";
import { cancelCommand } from "../../src/cli/cancel.ts";
import type { CliContext, Command } from "../../src/cli/command.ts";
import { COMMANDS } from "../../src/cli/commands.ts";
import { main } from "../../src/cli/main.ts";
import { retryCommand } from "../../src/cli/retry.ts";
import { statsCommand } from "../../src/cli/stats.ts";
import { statusCommand } from "../../src/cli/status.ts";
import { submitCommand } from "../../src/cli/submit.ts";
import { tasksCommand } from "../../src/cli/tasks.ts";
import { workerCommand } from "../../src/cli/worker.ts";
import { workersCommand } from "../../src/cli/workers.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";

const TASK_COMMANDS: Command[] = [submitCommand, statusCommand, cancelCommand, retryCommand, statsCommand, workersCommand, tasksCommand, workerCommand];
const ALL = [...COMMANDS.filter((c) => !TASK_COMMANDS.some((t) => t.name === c.name)), ...TASK_COMMANDS];

let broker: TestBroker;
let url: string;
let client: Client;
let dir: string;

beforeAll(async () => {
  broker = await startBroker({ "broker.retry_base_delay_ms": 10 });
  url = `tq://127.0.0.1:${broker.port}`;
  client = new Client({ url, env: {} });
  dir = mkdtempSync(join(tmpdir(), "tq-cli-"));
});

afterAll(async () => {
  await client.close();
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = { env: { TQ_URL: url }, out: (t) => out.push(t), err: (t) => err.push(t), commands: ALL };
  const code = await main(argv, ctx);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("task subcommands", () => {
  test("submit prints the id; status shows it; --json is machine-readable", async () => {
    const sub = await cli("submit", "email.send", "--payload", '{"to":"ada@example.com"}', "--queue", "cli", "--priority", "high", "--max-retries", "2");
    expect(sub.code).toBe(0);
    const id = sub.out.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const human = await cli("status", id);
    expect(human.out).toContain("status:          pending");
    expect(human.out).toContain('{"to":"ada@example.com"}');
    const json = JSON.parse((await cli("status", id, "--json")).out);
    expect(json).toMatchObject({ id, status: "pending", priority: 255, maxRetries: 2, queue: "cli", payload: { to: "ada@example.com" } });
  });

  test("submit --wait prints the result once a worker completes it", async () => {
    const worker = new Worker({ url, env: {}, queues: ["cli-wait"], handleSignals: false });
    worker.register<{ n: number }>("double", (t) => ({ doubled: t.payload.n * 2 }));
    await worker.start();
    try {
      const res = await cli("submit", "double", "--payload", '{"n":21}', "--queue", "cli-wait", "--wait", "--json");
      expect(res.code).toBe(0);
      expect(JSON.parse(res.out)).toMatchObject({ status: "completed", result: { doubled: 42 } });
    } finally {
      await worker.stop();
    }
  });

  test("--delay schedules; cancel and retry change status; tasks list filters", async () => {
    const id = (await cli("submit", "later", "--delay", "10m", "--queue", "cli-list")).out.trim();
    expect((await client.status(id)).status).toBe("scheduled");
    expect((await cli("cancel", id)).out).toContain("cancelled");
    const listed = await cli("tasks", "list", "--status", "cancelled", "--queue", "cli-list");
    expect(listed.out).toContain(id);
    expect((await cli("retry", id, "--json")).out).toContain('"status": "pending"');
    const page = JSON.parse((await cli("tasks", "list", "--queue", "cli-list", "--limit", "5", "--json")).out);
    expect(page.tasks.map((t: { id: string }) => t.id)).toContain(id);
  });

  test("tasks list --order newest: the last finished first, paged in that order", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const [out] = await client.submitMany([{ type: "ordered", queue: "cli-order" }]);
      ids.push(out!.id);
      const [lease] = await broker.app.broker.claim({ queues: ["cli-order"], workerId: "w-order", max: 1, waitMs: 0 });
      await broker.app.broker.complete({ id: lease!.task.id, token: lease!.token }, { result: null, resultIsJson: false });
      await Bun.sleep(5); // distinct finish times
    }
    const page = async (...extra: string[]) =>
      JSON.parse((await cli("tasks", "list", "--status", "completed", "--queue", "cli-order", "--json", ...extra)).out) as { tasks: { id: string }[]; nextCursor: string | null };
    expect((await page()).tasks.map((t) => t.id)).toEqual(ids);
    expect((await page("--order", "newest")).tasks.map((t) => t.id)).toEqual([...ids].reverse());
    const first = await page("--order", "newest", "--limit", "2");
    expect(first.tasks.map((t) => t.id)).toEqual([ids[2]!, ids[1]!]);
    expect((await page("--order", "newest", "--limit", "2", "--cursor", first.nextCursor!)).tasks.map((t) => t.id)).toEqual([ids[0]!]);
    const bad = await cli("tasks", "list", "--order", "sideways");
    expect(bad.code).toBe(64);
    expect(bad.err).toContain("--order");
  });

  test("stats and workers print text and JSON", async () => {
    const stats = await cli("stats");
    expect(stats.code).toBe(0);
    expect(stats.out).toContain("tasks.pending");
    expect(JSON.parse((await cli("stats", "--json")).out)).toHaveProperty("tasks");
    const worker = new Worker({ url, env: {}, queues: ["cli-w"], handleSignals: false, workerId: "listed-worker" });
    await worker.start();
    try {
      expect((await cli("workers")).out).toContain("listed-worker");
      expect(JSON.parse((await cli("workers", "--json")).out).map((w: { id: string }) => w.id)).toContain("listed-worker");
    } finally {
      await worker.stop();
    }
  });

  test("errors are one line naming the error class, exit 1; usage mistakes exit 64", async () => {
    const missing = await cli("status", "00000000-0000-7000-8000-000000000000");
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("NotFoundError");
    // An id that is not a UUID is a command-line mistake the CLI sees before asking the broker.
    const notUuid = await cli("cancel", "nope");
    expect(notUuid.code).toBe(64);
    expect(notUuid.err).toContain('ID "nope" is not a task id');
    expect((await cli("submit", "t", "--payload", "{bad")).code).toBe(64);
    expect((await cli("submit", "t", "--priority", "urgent")).err).toContain("expected high, normal, low");
    expect((await cli("submit", "t", "--delay", "soon")).code).toBe(64);
    expect((await cli("tasks", "list", "--status", "done")).code).toBe(64);
    const down = await main(["stats", "--url", "tq://127.0.0.1:1"], { env: {}, out: () => {}, err: () => {}, commands: ALL });
    expect(down).toBe(1);
  });

  test("every task subcommand has --help", async () => {
    for (const c of TASK_COMMANDS) {
      const res = await cli(c.name, "--help");
      expect(res.code).toBe(0);
      expect(res.out).toContain(`usage: tq-broker ${c.name}`);
      expect(res.out).toContain("--url");
    }
  });
});

describe("worker --handlers", () => {
  test("runs the user's module in a child process, reports each task, and drains on SIGTERM", async () => {
    const handlers = join(dir, "handlers.ts");
    writeFileSync(
      handlers,
      `export default {
  "greet": async (task: { payload: { name: string } }) => ({ greeting: "hello " + task.payload.name }),
  "explode": async () => { const e = new Error("no"); e.name = "UnrecoverableError"; throw e; },
};
`,
    );
    // The shipped main.ts gains these commands through its table; until then a two-line entry adds them.
    const entry = join(dir, "cli-entry.ts");
    writeFileSync(
      entry,
      `import { main } from ${JSON.stringify(resolve(import.meta.dir, "../../src/cli/main.ts"))};
import { COMMANDS } from ${JSON.stringify(resolve(import.meta.dir, "../../src/cli/commands.ts"))};
import { workerCommand } from ${JSON.stringify(resolve(import.meta.dir, "../../src/cli/worker.ts"))};
const commands = [...COMMANDS.filter((c) => c.name !== "worker"), workerCommand];
process.exit(await main(process.argv.slice(2), { env: process.env, out: (t) => console.log(t), err: (t) => console.error(t), commands }));
`,
    );
    const proc = Bun.spawn([process.execPath, entry, "worker", "--handlers", "handlers.ts", "--queues", "cli-proc", "--concurrency", "2", "--json"], {
      cwd: dir,
      env: { ...process.env, TQ_URL: url },
      stdout: "pipe",
      stderr: "pipe",
    });
    const killer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
    try {
      const greet = await client.submit("greet", { name: "ada" }, { queue: "cli-proc" });
      const explode = await client.submit("explode", null, { queue: "cli-proc", maxRetries: 5 });
      expect(await client.result(greet.id, { wait: 15_000 })).toEqual({ greeting: "hello ada" });
      await client.result(explode.id, { wait: 15_000 }).catch(() => {});
      const dead = await client.status(explode.id);
      expect(dead.status).toBe("dead");
      expect(dead.attempts).toBe(1);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      const events = (await new Response(proc.stdout).text())
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { event: string; id?: string });
      expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(["started", "completed", "failed", "stopping", "stopped"]));
      expect(events.find((e) => e.event === "completed")?.id).toBe(greet.id);
      expect(await new Response(proc.stderr).text()).not.toContain("second signal");
    } finally {
      clearTimeout(killer);
      proc.kill("SIGKILL");
    }
  }, 30_000);

  test("a module without a default export of functions is a usage error naming the file", async () => {
    writeFileSync(join(dir, "bad.ts"), "export const x = 1;\n");
    const res = await cli("worker", "--handlers", join(dir, "bad.ts"));
    expect(res.code).toBe(64);
    expect(res.err).toContain("default export must be an object");
  });
});
