// The SDK over tqs:// against a broker with TLS on (a self-signed certificate made by openssl in
// a temp dir): the client trusts it through tls.ca, a worker runs a task over it, and without
// the CA the connection fails as a ConnectionError rather than falling back to plaintext.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, ConnectionError, Worker } from "../../src/index.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";

let dir: string;
let ca: string;
let broker: TestBroker;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tq-client-tls-"));
  const certFile = join(dir, "server.crt");
  const keyFile = join(dir, "server.key");
  const r = spawnSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", keyFile, "-out", certFile],
    { encoding: "utf8", timeout: 30_000 },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  ca = readFileSync(certFile, "utf8");
  broker = await startBroker({ "api.enable_tls": true, "api.tls_cert_file": certFile, "api.tls_key_file": keyFile });
});

afterAll(async () => {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("tqs://", () => {
  test("a client trusting the CA submits, and a worker over TLS completes the task", async () => {
    const url = `tqs://127.0.0.1:${broker.port}`;
    const client = new Client({ url, env: {}, tls: { ca } });
    const worker = new Worker({ url, env: {}, tls: { ca }, queues: ["tls"], handleSignals: false });
    worker.register("secure", () => "over tls");
    try {
      const { id } = await client.submit("secure", { n: 1 }, { queue: "tls" });
      await worker.start();
      expect(await client.result(id, { wait: 10_000 })).toBe("over tls");
    } finally {
      await worker.stop();
      await client.close();
    }
  });

  test("an untrusted certificate is a ConnectionError naming the cause; nothing is sent in the clear", async () => {
    const client = new Client({ url: `tqs://127.0.0.1:${broker.port}`, env: {}, reconnect: false });
    try {
      const err = await client.ping().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as Error).message).toMatch(/certificate/i);
    } finally {
      await client.close();
    }
  });
});
