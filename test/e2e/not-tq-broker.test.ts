// Pointing the SDK or the CLI at a server that is not tq-broker says so, naming what answered:
// a real HTTP server (Bun.serve), fake Redis servers (-ERR, +PONG), a TLS listener reached with
// tq://, and unknown bytes, instead of "frame length 1213486160 is over the limit".

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server, TCPSocketListener } from "bun";
import { Client, ConnectionError } from "../../src/index.ts";
import { runCli } from "../helpers/cli.ts";

let dir: string;
let http: Server<undefined>;
const listeners: TCPSocketListener<undefined>[] = [];
const ports: Record<string, number> = {};

/** A TCP server that answers whatever it receives with `reply`. */
function fakeServer(name: string, reply: Uint8Array | string, tls?: { cert: string; key: string }): void {
  const l = Bun.listen<undefined>({
    hostname: "127.0.0.1",
    port: 0,
    ...(tls ? { tls } : {}),
    socket: {
      data(socket) {
        socket.write(reply);
      },
    },
  });
  listeners.push(l);
  ports[name] = l.port;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "tq-not-broker-"));
  http = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("a web page") });
  ports.http = http.port!;
  fakeServer("redis-err", "-ERR unknown command '\\x00\\x00'\r\n");
  fakeServer("redis-pong", "+PONG\r\n");
  fakeServer("binary", new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00]));
  const r = spawnSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem")],
    { encoding: "utf8", timeout: 30_000 },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  fakeServer("tls", "never sent: the handshake fails first", { cert: readFileSync(join(dir, "c.pem"), "utf8"), key: readFileSync(join(dir, "k.pem"), "utf8") });
});

afterAll(async () => {
  await http.stop(true);
  for (const l of listeners) l.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

const CASES: Array<{ name: string; says: string }> = [
  { name: "http", says: 'answered like HTTP, not tq-broker (it sent "HTTP/1.1 400 Bad Request")' },
  { name: "redis-err", says: "answered like Redis, not tq-broker (it sent \"-ERR unknown command" },
  { name: "redis-pong", says: 'answered like Redis, not tq-broker (it sent "+PONG")' },
  { name: "tls", says: "answered with TLS, not plain tq-broker frames; use a tqs:// URL" },
  { name: "binary", says: "answered with bytes that are not tq-broker's protocol (first bytes 7f 45 4c 46 02 01 01 00)" },
];

describe("a server that is not tq-broker", () => {
  test("the SDK fails with a ConnectionError that says what answered", async () => {
    for (const c of CASES) {
      const client = new Client({ url: `tq://127.0.0.1:${ports[c.name]}`, env: {}, reconnect: false, connectTimeoutMs: 5_000 });
      try {
        const err = await client.ping().then(
          () => null,
          (e: unknown) => e,
        );
        expect({ server: c.name, isConnectionError: err instanceof ConnectionError }).toEqual({ server: c.name, isConnectionError: true });
        const message = (err as Error).message;
        expect(message).toContain(`the server at 127.0.0.1:${ports[c.name]} ${c.says}`);
        expect(message).not.toContain("over the limit");
      } finally {
        await client.close();
      }
    }
  });

  test("the CLI prints it on one line and exits 1", async () => {
    for (const c of CASES) {
      const r = await runCli(["stats", "--url", `tq://127.0.0.1:${ports[c.name]}`], { cwd: dir });
      expect({ server: c.name, exitCode: r.exitCode, stdout: r.stdout }).toEqual({ server: c.name, exitCode: 1, stdout: "" });
      expect(r.stderr).toContain(`the server at 127.0.0.1:${ports[c.name]} ${c.says}`);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
  }, 30_000);
});
