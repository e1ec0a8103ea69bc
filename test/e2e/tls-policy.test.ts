// One TLS policy on every listener of a real broker (protocol, REST, gRPC, metrics) with api.enable_tls
// and a client CA: a client without a certificate is refused on each port, one signed by the CA
// is served, TLS 1.0/1.1 and TLS 1.2 suites without forward secrecy are refused everywhere.
// Certificates are made by openssl in a temp dir.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { encodeRequest } from "../../src/protocol/frame-writer.ts";
import { decodeResponse } from "../../src/protocol/response-codec.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";

let dir: string;
let broker: TestBroker;
let ca: string;
let clientCert: string;
let clientKey: string;

function openssl(args: string[]): void {
  const r = spawnSync("openssl", args, { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

/** A key and a certificate for `name` signed by the test CA. */
function signed(name: string, extfile?: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`, "-keyout", key, "-out", csr]);
  openssl(["x509", "-req", "-in", csr, "-CA", join(dir, "ca.crt"), "-CAkey", join(dir, "ca.key"), "-CAcreateserial", "-days", "1", "-out", cert,
    ...(extfile === undefined ? [] : ["-extfile", extfile])]);
  return { cert, key };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tq-tls-policy-"));
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=tq-test-ca", "-days", "1", "-keyout", join(dir, "ca.key"), "-out", join(dir, "ca.crt")]);
  const ext = join(dir, "server.ext");
  await Bun.write(ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  const server = signed("localhost", ext);
  const client = signed("tq-client");
  ca = readFileSync(join(dir, "ca.crt"), "utf8");
  clientCert = readFileSync(client.cert, "utf8");
  clientKey = readFileSync(client.key, "utf8");
  broker = await startBroker({
    "api.enable_tls": true,
    "api.tls_cert_file": server.cert,
    "api.tls_key_file": server.key,
    "api.tls_ca_file": join(dir, "ca.crt"),
  });
});

afterAll(async () => {
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Sends `request` over TLS and collects what comes back until the server closes or 3 s pass.
 * Resolves "error: ..." when the handshake or the connection fails, else the bytes received.
 */
function exchange(port: number, request: Uint8Array | string, extra: tls.ConnectionOptions = {}, enough?: (reply: string) => boolean): Promise<string> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    let done = false;
    const finish = (outcome: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    // gRPC clients ask for HTTP/2 by ALPN, as every gRPC library does.
    const alpn = request === H2_PREFACE ? { ALPNProtocols: ["h2"] } : {};
    const socket = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost", ...alpn, ...extra }, () => {
      socket.write(request);
    });
    const timer = setTimeout(() => finish(got.toString("latin1")), 3_000);
    socket.on("data", (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (enough?.(got.toString("latin1"))) finish(got.toString("latin1"));
    });
    socket.on("error", (err) => finish(`error: ${err.message}`));
    socket.on("close", () => finish(got.length > 0 ? got.toString("latin1") : "error: closed with no reply"));
  });
}

const PING = encodeRequest({ kind: "Ping", requestId: 7 });
const httpGet = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`;
/** The HTTP/2 client preface and an empty SETTINGS frame: a gRPC server answers with its own SETTINGS frame. */
const H2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
const h2Settings = (reply: string): boolean => !reply.startsWith("error") && reply.length >= 9 && reply.charCodeAt(3) === 0x04;

/** Each listener with a request it answers and how a served reply starts. */
function listeners(): Array<{ name: string; port: number; request: Uint8Array | string; served: (reply: string) => boolean }> {
  const pong = (reply: string): boolean => {
    const bytes = Buffer.from(reply, "latin1");
    if (reply.startsWith("error") || bytes.length < 5 || bytes.length < 4 + bytes.readUInt32BE(0)) return false;
    const response = decodeResponse(bytes[4]!, bytes.subarray(5, 4 + bytes.readUInt32BE(0)));
    return response.kind === "Pong" && response.requestId === 7;
  };
  return [
    { name: "protocol (broker.port)", port: broker.port, request: PING, served: pong },
    { name: "REST (api.rest_port)", port: broker.httpPort, request: httpGet("/healthz"), served: (r) => r.startsWith("HTTP/1.1 200") },
    { name: "gRPC (api.grpc_port)", port: broker.grpcPort, request: H2_PREFACE, served: h2Settings },
    { name: "metrics (monitoring.prometheus_port)", port: broker.metricsPort, request: httpGet("/metrics"), served: (r) => r.startsWith("HTTP/1.1 200") },
  ];
}

describe("every listener enforces the same TLS policy", () => {
  test("with a client CA, a client without a certificate is refused on each port, TLS 1.3 and 1.2", async () => {
    for (const l of listeners()) {
      for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
        const reply = await exchange(l.port, l.request, { minVersion: version, maxVersion: version });
        expect({ listener: l.name, version, served: l.served(reply) }).toEqual({ listener: l.name, version, served: false });
      }
    }
  });

  test("a client with a certificate signed by the CA is served on each port", async () => {
    for (const l of listeners()) {
      const reply = await exchange(l.port, l.request, { cert: clientCert, key: clientKey }, l.served);
      expect({ listener: l.name, served: l.served(reply) }).toEqual({ listener: l.name, served: true });
    }
  });

  test("a certificate the CA did not sign is refused on each port", async () => {
    const self = join(dir, "self");
    openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=intruder", "-days", "1", "-keyout", `${self}.key`, "-out", `${self}.crt`]);
    const cert = readFileSync(`${self}.crt`, "utf8");
    const key = readFileSync(`${self}.key`, "utf8");
    for (const l of listeners()) {
      const reply = await exchange(l.port, l.request, { cert, key });
      expect({ listener: l.name, served: l.served(reply) }).toEqual({ listener: l.name, served: false });
    }
  });

  test("TLS 1.1 and 1.0 are refused on each port, even with a good certificate", async () => {
    for (const l of listeners()) {
      for (const version of ["TLSv1.1", "TLSv1"] as const) {
        const reply = await exchange(l.port, l.request, { cert: clientCert, key: clientKey, minVersion: version, maxVersion: version });
        expect({ listener: l.name, version, reply: reply.slice(0, 6) }).toEqual({ listener: l.name, version, reply: "error:" });
      }
    }
  });
});

/** The suite `openssl s_client` negotiates over TLS 1.2 when it offers only `cipher`; "(NONE)" when refused. */
async function negotiate12(port: number, cipher: string): Promise<string> {
  // Async: the broker runs in this process, so a blocking spawn would stall its handshake.
  const proc = Bun.spawn(
    ["openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", "-tls1_2", "-cipher", `${cipher}:@SECLEVEL=0`,
      "-CAfile", join(dir, "ca.crt"), "-cert", join(dir, "tq-client.crt"), "-key", join(dir, "tq-client.key")],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 15_000 },
  );
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const match = /Cipher is (\S+)/.exec(stdout);
  if (match === null) throw new Error(`openssl s_client printed no cipher line: ${stdout}\n${stderr}`);
  return match[1]!;
}

describe("TLS 1.2 suites: forward secrecy only", () => {
  // The four static-RSA suites Bun offers by default, and the ECDHE CBC-SHA1 ones.
  const refused = ["AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA", "AES256-SHA", "AES128-SHA256", "ECDHE-RSA-AES128-SHA"];
  const accepted = ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"];

  test("static-RSA suites are refused and ECDHE suites accepted on each port", async () => {
    for (const l of listeners()) {
      for (const cipher of refused) expect({ listener: l.name, cipher, got: await negotiate12(l.port, cipher) }).toEqual({ listener: l.name, cipher, got: "(NONE)" });
      for (const cipher of accepted) expect({ listener: l.name, cipher, got: await negotiate12(l.port, cipher) }).toEqual({ listener: l.name, cipher, got: cipher });
    }
  }, 60_000);

  test("TLS 1.3 still negotiates", async () => {
    for (const l of listeners()) {
      const reply = await exchange(l.port, l.request, { cert: clientCert, key: clientKey, minVersion: "TLSv1.3" }, l.served);
      expect({ listener: l.name, served: l.served(reply) }).toEqual({ listener: l.name, served: true });
    }
  });
});
