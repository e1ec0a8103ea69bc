// gRPC over TLS with a real grpc-js client: with api.enable_tls and a client CA the gRPC port
// serves a client whose certificate the CA signed, and refuses one without a certificate and a
// plaintext client (the policy itself, versions and suites, is checked on every port by
// tls-policy.test.ts). Certificates are made by openssl in a temp dir.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { GrpcTestClient } from "../helpers/grpc-client.ts";

let dir: string;
let broker: TestBroker;
let ca: string;
let client: { cert: string; key: string };

function openssl(args: string[]): void {
  const r = spawnSync("openssl", args, { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

function signed(name: string, extfile?: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${name}`, "-keyout", key, "-out", csr]);
  openssl(["x509", "-req", "-in", csr, "-CA", join(dir, "ca.crt"), "-CAkey", join(dir, "ca.key"), "-CAcreateserial", "-days", "1", "-out", cert,
    ...(extfile === undefined ? [] : ["-extfile", extfile])]);
  return { cert, key };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tq-grpc-tls-"));
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=tq-test-ca", "-days", "1", "-keyout", join(dir, "ca.key"), "-out", join(dir, "ca.crt")]);
  const ext = join(dir, "server.ext");
  await Bun.write(ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  const server = signed("localhost", ext);
  const c = signed("tq-client");
  client = { cert: readFileSync(c.cert, "utf8"), key: readFileSync(c.key, "utf8") };
  ca = readFileSync(join(dir, "ca.crt"), "utf8");
  broker = await startBroker({ "api.enable_tls": true, "api.tls_cert_file": server.cert, "api.tls_key_file": server.key, "api.tls_ca_file": join(dir, "ca.crt") });
});

afterAll(async () => {
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("gRPC over TLS", () => {
  test("a client with a certificate signed by the CA submits and reads back a task", async () => {
    const c = new GrpcTestClient(broker.grpcPort, { ca, cert: client.cert, certKey: client.key });
    try {
      const { id } = await c.call("Submit", { task: { type: "tls.task" } });
      expect((await c.call("GetTask", { id })).type).toBe("tls.task");
    } finally {
      c.close();
    }
  });

  test("a client without a certificate, and a plaintext client, are refused; nothing is stored", async () => {
    const before = (await broker.app.broker.stats()).totals.submitted;
    const noCert = new GrpcTestClient(broker.grpcPort, { ca, deadlineMs: 2000 });
    const plain = new GrpcTestClient(broker.grpcPort, { deadlineMs: 2000 });
    try {
      for (const c of [noCert, plain]) {
        const err = await c.error("Submit", { task: { type: "refused" } });
        expect([GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED]).toContain(err.code);
      }
      expect((await broker.app.broker.stats()).totals.submitted).toBe(before);
    } finally {
      noCert.close();
      plain.close();
    }
  });
});
