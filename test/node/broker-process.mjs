// Starts `bun src/cli/main.ts serve` as a child process on loopback, port 0, in a temp data dir,
// and reads the port from its "listening" log line. Plain JS on node:child_process so Node.js
// tests can use it (the broker itself always runs on Bun).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
export const BUN = join(REPO_ROOT, "node_modules/.bin/bun");

export async function startBrokerProcess(timeoutMs = 15000) {
  const dataDir = mkdtempSync(join(tmpdir(), "tq-node-test-"));
  const env = { ...process.env, TQ_BROKER_HOST: "127.0.0.1", TQ_API_REST_PORT: "0", TQ_API_GRPC_PORT: "0", TQ_MONITORING_PROMETHEUS_PORT: "0" };
  const child = spawn(BUN, [join(REPO_ROOT, "src/cli/main.ts"), "serve", "--port", "0", "--data-dir", dataDir], { env, stdio: ["ignore", "pipe", "pipe"] });
  const port = await new Promise((resolvePort, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`broker did not report its port within ${timeoutMs} ms:\n${seen}`)), timeoutMs);
    const onData = (chunk) => {
      seen += chunk.toString();
      for (const line of seen.split("\n")) {
        if (!line.includes('"broker.port"')) continue;
        try {
          const rec = JSON.parse(line);
          clearTimeout(timer);
          resolvePort(Number(String(rec.address).split(":").pop()));
          return;
        } catch {
          // a partial line: wait for the rest
        }
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited with ${code} before listening:\n${seen}`));
    });
  });
  return {
    url: `tq://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
