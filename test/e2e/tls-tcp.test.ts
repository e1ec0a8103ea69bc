// TLS on the composed broker: the TCP protocol and the REST API both speak TLS with
// api.enable_tls, and a broker with an unreadable certificate does not start at all.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { encodeRequest } from "../../src/protocol/frame-writer.ts";
import { decodeResponse } from "../../src/protocol/response-codec.ts";
import { TlsConfigError } from "../../src/tls.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";

let dir: string;
let certFile: string;
let keyFile: string;
let broker: TestBroker;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tq-tls-tcp-"));
  certFile = join(dir, "server.crt");
  keyFile = join(dir, "server.key");
  const r = spawnSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", keyFile, "-out", certFile],
    { encoding: "utf8", timeout: 30_000 },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  broker = await startBroker({ "api.enable_tls": true, "api.tls_cert_file": certFile, "api.tls_key_file": keyFile });
});

afterAll(async () => {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("TLS on the composed broker", () => {
  test("the TCP protocol completes a TLS handshake and a Ping round trip", async () => {
    const ca = readFileSync(certFile, "utf8");
    const reply = await new Promise<Uint8Array>((resolve, reject) => {
      const socket = tls.connect({ host: "127.0.0.1", port: broker.port, ca, servername: "localhost", minVersion: "TLSv1.2" }, () => {
        socket.write(encodeRequest({ kind: "Ping", requestId: 42 }));
      });
      let got = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.length >= 4 && got.length >= 4 + got.readUInt32BE(0)) {
          socket.end();
          resolve(got);
        }
      });
      socket.on("error", reject);
    });
    const response = decodeResponse(reply[4]!, reply.subarray(5));
    expect(response).toEqual({ kind: "Pong", requestId: 42 });
  });

  test("a plaintext client cannot speak the protocol to a TLS listener", async () => {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port: broker.port, socket: { data() {}, close() {} } });
    socket.write(encodeRequest({ kind: "SubmitTask", requestId: 1, task: { type: "plain", queue: "default", payload: new Uint8Array(1), payloadIsJson: false } }));
    // Not a broker timer: time for the bytes to reach the listener before nothing stored is checked.
    await Bun.sleep(200);
    socket.end();
    // The bytes are not a TLS handshake: at most a TLS alert comes back, and nothing is stored.
    expect((await broker.app.broker.stats()).totals.submitted).toBe(0);
  });

  test("the REST API answers over HTTPS", async () => {
    const res = await fetch(`https://127.0.0.1:${broker.httpPort}/healthz`, { tls: { ca: readFileSync(certFile, "utf8") } } as RequestInit);
    expect(res.status).toBe(200);
  });

  test("a missing certificate stops the broker from starting, naming the key and the path", async () => {
    const missing = join(dir, "nope.crt");
    let error: unknown;
    try {
      const b = await startBroker({ "api.enable_tls": true, "api.tls_cert_file": missing, "api.tls_key_file": keyFile });
      await b.stop();
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TlsConfigError);
    expect(String((error as Error).message)).toContain("api.tls_cert_file");
    expect(String((error as Error).message)).toContain(missing);
  });
});
