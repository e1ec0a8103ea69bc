// The compiled executable, built once per run by build.ts into a private temp dir (so parallel
// runs never overwrite each other's binary) and run from an empty directory with nothing beside it.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { REPO_ROOT, runCli, spawnCli } from "../helpers/cli.ts";
import { GrpcTestClient } from "../helpers/grpc-client.ts";
import { startNotifyReceiver } from "../helpers/notify-socket.ts";

const root = mkdtempSync(join(tmpdir(), "tq-binary-"));
const binDir = join(root, "bin");
const bin = join(binDir, "tq-broker");
afterAll(() => rmSync(root, { recursive: true, force: true }));

beforeAll(async () => {
  const proc = Bun.spawn([process.execPath, "run", resolve(REPO_ROOT, "build.ts"), "--out", binDir], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 170_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`build.ts failed (exit ${code}):\n${out}${err}`);
}, 180_000);

let n = 0;
/** An empty working directory: the binary must need nothing beside it. */
function emptyDir(): string {
  const dir = join(root, `cwd${n++}`);
  mkdirSync(dir);
  return dir;
}

const LOOPBACK_ENV = { TQ_BROKER_HOST: "127.0.0.1", TQ_API_REST_PORT: "0", TQ_API_GRPC_PORT: "0", TQ_MONITORING_PROMETHEUS_PORT: "0" };

describe("compiled tq-broker", () => {
  test("build.ts leaves exactly one executable", () => {
    expect(readdirSync(binDir)).toEqual(["tq-broker"]);
  });

  test("the code ships as bytecode (faster start-up, docs/install.md): the embedded entry carries Bun's @bytecode pragma", async () => {
    const bytes = Buffer.from(await Bun.file(bin).arrayBuffer());
    // The bundled entry main.ts begins with its shebang, then the pragma Bun writes for each
    // module compiled with --bytecode (`// @bun` alone without it).
    expect(bytes.includes("#!/usr/bin/env bun\n// @bun @bytecode\n")).toBe(true);
  });

  test("version: embedded from package.json, marked compiled", async () => {
    const pkg = (await Bun.file(resolve(REPO_ROOT, "package.json")).json()) as { version: string };
    const r = await runCli(["version", "--json"], { cwd: emptyDir(), bin });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: "tq-broker", version: pkg.version, build: "compiled" });
  });

  test("config check: the shipped file passes; a bad one exits 78 naming the key", async () => {
    const cwd = emptyDir();
    copyFileSync(resolve(REPO_ROOT, "config/broker.yaml"), join(cwd, "broker.yaml"));
    expect(await runCli(["config", "check", "broker.yaml"], { cwd, bin })).toEqual({ exitCode: 0, stdout: "broker.yaml: ok\n", stderr: "" });
    writeFileSync(join(cwd, "bad.yaml"), "broker:\n  port: nope\n");
    const bad = await runCli(["config", "check", "bad.yaml"], { cwd, bin });
    expect(bad.exitCode).toBe(78);
    expect(bad.stderr).toContain('broker.port: expected an integer 0-65535, got "nope" (bad.yaml line 2)');
  });

  test("ignores .env and bunfig.toml in the directory it is started from", async () => {
    const cwd = emptyDir();
    writeFileSync(join(cwd, ".env"), "TQ_BROKER_PORT=not-a-port\n");
    writeFileSync(join(cwd, "bunfig.toml"), 'preload = ["./nope.ts"]\n');
    const r = await runCli(["config", "print", "--json"], { cwd, bin });
    expect(r.exitCode).toBe(0);
    expect((JSON.parse(r.stdout) as { broker: { port: number } }).broker.port).toBe(6379);
  });

  test("usage errors exit 64", async () => {
    expect((await runCli(["nope"], { cwd: emptyDir(), bin })).exitCode).toBe(64);
  });

  test("bench --spawn runs W1-W4 from the executable alone: its broker and load agents are the same binary", async () => {
    const args = ["bench", "--spawn", "-n", "1000", "--batch", "50", "--rate", "200", "--seconds", "1", "--warmup", "200", "--json"];
    const r = await runCli(args, { cwd: emptyDir(), bin }, 60_000);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { workload: string; exactlyOnce: boolean | null; tasks: number; perRun: { agentsWarm: boolean }[] });
    expect(lines.map((l) => l.workload)).toEqual(["W1", "W2", "W3", "W4"]);
    expect(lines.map((l) => l.tasks)).toEqual([1000, 1000, 1000, 200]);
    expect(lines.map((l) => l.exactlyOnce)).toEqual([null, true, true, null]);
    expect(lines.every((l) => l.perRun[0]!.agentsWarm)).toBe(true);
  }, 90_000);

  test("worker --handlers imports a .ts module at run time (the binary is bytecode-compiled ESM)", async () => {
    const cwd = emptyDir();
    writeFileSync(join(cwd, "handlers.ts"), 'export default { "say.hi": async (task: { payload: { to: string } }) => ({ hi: task.payload.to }) };\n');
    const broker = spawnCli(["serve", "--port", "0"], { cwd, bin, env: LOOPBACK_ENV });
    await broker.waitForStdout('"key":"broker.port"');
    const url = `tq://127.0.0.1:${/"key":"broker\.port","address":"[^"]*:(\d+)"/.exec(broker.stdout())?.[1]}`;
    const worker = spawnCli(["worker", "--handlers", "handlers.ts"], { cwd, bin, env: { TQ_URL: url } });
    try {
      const r = await runCli(["submit", "say.hi", "--payload", '{"to":"ada"}', "--wait"], { cwd, bin, env: { TQ_URL: url } });
      expect(r.stderr).toBe("");
      expect(r.stdout.trim().split("\n").at(-1)).toBe('{"hi":"ada"}');
      await worker.waitForStdout("completed ");
    } finally {
      expect(await worker.stop("SIGTERM")).toBe(0);
      expect(await broker.stop("SIGTERM")).toBe(0);
    }
  });

  test("serve from an empty dir: creates ./data, logs where it listens, SIGTERM exits 0", async () => {
    const cwd = emptyDir();
    const broker = spawnCli(["serve", "--port", "0"], { cwd, bin, env: LOOPBACK_ENV });
    await broker.waitForStdout('"msg":"tq-broker started"');
    expect(broker.stdout()).toContain(`"data_dir":"${join(cwd, "data")}"`);
    expect(existsSync(join(cwd, "data"))).toBe(true);
    expect(await broker.stop("SIGTERM")).toBe(0);
  });

  test("serves the dashboard from an empty dir: page, script and style are embedded, and the log names its URL", async () => {
    const cwd = emptyDir();
    const broker = spawnCli(["serve", "--port", "0"], { cwd, bin, env: LOOPBACK_ENV });
    try {
      await broker.waitForStdout('"msg":"tq-broker started"');
      const dashboard = /"msg":"tq-broker started".*"dashboard":"(http:\/\/127\.0\.0\.1:\d+\/)"/.exec(broker.stdout())?.[1];
      expect(dashboard).toBeDefined();
      const page = await fetch(dashboard!);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<script src="/dashboard/app.js" defer></script>');
      for (const file of ["app.js", "style.css"]) {
        const served = await fetch(`${dashboard}dashboard/${file}`);
        expect(served.status).toBe(200);
        expect(await served.text()).toBe(await Bun.file(resolve(REPO_ROOT, "src/http/dashboard", file)).text());
      }
    } finally {
      expect(await broker.stop("SIGTERM")).toBe(0);
    }
  });

  test("serves gRPC from an empty dir: the .proto files are embedded (a call and reflection answer)", async () => {
    const cwd = emptyDir();
    const broker = spawnCli(["serve", "--port", "0"], { cwd, bin, env: LOOPBACK_ENV });
    try {
      await broker.waitForStdout('"key":"api.grpc_port"');
      const grpcPort = Number(/"key":"api\.grpc_port","address":"[^"]*:(\d+)"/.exec(broker.stdout())?.[1]);
      const client = new GrpcTestClient(grpcPort);
      try {
        expect((await client.call("GetServerInfo")).protocol_version).toBe(1);
        const listed = await new Promise<string[]>((resolve, reject) => {
          const stream = client.reflection.ServerReflectionInfo();
          stream.on("data", (m: { list_services_response: { service: { name: string }[] } }) => {
            resolve(m.list_services_response.service.map((s) => s.name));
            stream.end();
          });
          stream.on("error", reject);
          stream.write({ host: "", list_services: "*" });
        });
        expect(listed).toContain("tq.v1.Broker");
      } finally {
        client.close();
      }
    } finally {
      expect(await broker.stop("SIGTERM")).toBe(0);
    }
  });
});

// systemd, and so NOTIFY_SOCKET, exists on Linux only.
describe.skipIf(process.platform !== "linux")("compiled tq-broker under systemd (Type=notify), with a stand-in NOTIFY_SOCKET", () => {
  for (const kind of ["path", "abstract"] as const) {
    test(`READY=1 once it accepts connections, STOPPING=1 on SIGTERM (${kind} socket)`, async () => {
      const cwd = emptyDir();
      const socketPath = kind === "path" ? join(cwd, "notify.sock") : `@tq-notify-test-${process.pid}-${n}`;
      const systemd = await startNotifyReceiver(socketPath);
      try {
        const broker = spawnCli(["serve", "--port", "0"], { cwd, bin, env: { ...LOOPBACK_ENV, NOTIFY_SOCKET: socketPath } });
        await systemd.waitFor("READY=1");
        // What `systemctl start` promises once it returns: the protocol port and /readyz answer now.
        await broker.waitForStdout('"key":"api.rest_port"');
        const port = Number(/"key":"broker\.port","address":"[^"]*:(\d+)"/.exec(broker.stdout())?.[1]);
        const restPort = Number(/"key":"api\.rest_port","address":"[^"]*:(\d+)"/.exec(broker.stdout())?.[1]);
        const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
        socket.end();
        expect((await fetch(`http://127.0.0.1:${restPort}/readyz`)).status).toBe(200);
        expect(systemd.messages()).toEqual(["READY=1"]);
        expect(await broker.stop("SIGTERM")).toBe(0);
        await systemd.waitFor("STOPPING=1", 2000);
        expect(systemd.messages()).toEqual(["READY=1", "STOPPING=1"]);
        expect(broker.stderr()).toBe("");
        expect(broker.stdout()).not.toContain("could not notify systemd");
      } finally {
        await systemd.stop();
      }
    });
  }

  test("a NOTIFY_SOCKET it cannot use is logged as a warning and the broker serves on", async () => {
    const cwd = emptyDir();
    const broker = spawnCli(["serve", "--port", "0"], { cwd, bin, env: { ...LOOPBACK_ENV, NOTIFY_SOCKET: join(cwd, "nobody-listens.sock") } });
    await broker.waitForStdout('"msg":"could not notify systemd"');
    expect(broker.stdout()).toContain('"state":"READY=1"');
    expect(broker.stdout()).toContain('"msg":"listening","key":"broker.port"');
    expect(await broker.stop("SIGTERM")).toBe(0);
  });
});
