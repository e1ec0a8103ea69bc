// The task commands from a compiled executable: `serve`, `submit`, `status` and
// `worker --handlers FILE`, where FILE is a .ts module on disk imported at run time by the
// binary. Compiles main.ts with the task commands added (for as long as the shipped command
// table lacks them) into a private temp dir, and runs everything from an empty directory.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { spawnBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { runCli, spawnCli } from "../helpers/cli.ts";

const SRC = resolve(import.meta.dir, "../../src/cli");
const root = mkdtempSync(join(tmpdir(), "tq-client-binary-"));
const bin = join(root, "tq-broker");
let broker: BrokerProcess | null = null;

beforeAll(async () => {
  const entry = join(root, "entry.ts");
  const commands = ["submit", "status", "worker"];
  writeFileSync(
    entry,
    `import { main } from ${JSON.stringify(join(SRC, "main.ts"))};
import { COMMANDS } from ${JSON.stringify(join(SRC, "commands.ts"))};
import { submitCommand } from ${JSON.stringify(join(SRC, "submit.ts"))};
import { statusCommand } from ${JSON.stringify(join(SRC, "status.ts"))};
import { workerCommand } from ${JSON.stringify(join(SRC, "worker.ts"))};
const mine = [submitCommand, statusCommand, workerCommand];
const commands = [...COMMANDS.filter((c) => !${JSON.stringify(commands)}.includes(c.name)), ...mine];
process.exit(await main(process.argv.slice(2), { env: process.env, out: (t) => console.log(t), err: (t) => console.error(t), commands }));
`,
  );
  const proc = Bun.spawn(
    [process.execPath, "build", "--compile", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", entry, "--outfile", bin],
    { stdout: "pipe", stderr: "pipe" },
  );
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`bun build --compile failed (exit ${code}):\n${out}${err}`);
  broker = await spawnBroker({ command: [bin] });
}, 120_000);

afterAll(async () => {
  if (broker) {
    broker.proc.kill("SIGTERM");
    await broker.exited;
    rmSync(broker.dataDir, { recursive: true, force: true });
  }
  rmSync(root, { recursive: true, force: true });
});

describe("compiled binary", () => {
  test("submit, status and worker --handlers with a .ts module loaded from disk", async () => {
    const cwd = join(root, "work");
    mkdirSync(cwd);
    writeFileSync(
      join(cwd, "handlers.ts"),
      `type Task = { payload: { name: string } };
export default {
  hello: async (task: Task): Promise<{ text: string }> => ({ text: "hi " + task.payload.name }),
};
`,
    );
    const env = { TQ_URL: `tq://127.0.0.1:${broker!.port}` };
    const worker = spawnCli(["worker", "--handlers", "handlers.ts", "--concurrency", "2"], { cwd, env, bin });
    try {
      await worker.waitForStdout("serving default");
      const sub = await runCli(["submit", "hello", "--payload", '{"name":"bin"}', "--wait", "--json"], { cwd, env, bin });
      expect(sub.stderr).toBe("");
      expect(sub.exitCode).toBe(0);
      const out = JSON.parse(sub.stdout) as { id: string; result: unknown };
      expect(out.result).toEqual({ text: "hi bin" });
      const status = await runCli(["status", out.id], { cwd, env, bin });
      expect(status.exitCode).toBe(0);
      expect(status.stdout).toContain("status:          completed");
      await worker.waitForStdout(`completed ${out.id} hello`);
      expect(await worker.stop("SIGTERM")).toBe(0);
      expect(worker.stdout()).toContain("stopped");
    } finally {
      worker.proc.kill("SIGKILL");
    }
  }, 60_000);
});
