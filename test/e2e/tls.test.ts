// TLS for the HTTP API with a self-signed certificate made by openssl in a temp dir: handshake
// (1.2 and 1.3 served, 1.0 and 1.1 refused), a full REST round trip, client certificates when a
// CA is configured, the dashboard over https on the REST listener only, and every start-up failure
// naming the config key and the path.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { constants } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { loadTls, TlsConfigError, type TlsFiles } from "../../src/tls.ts";
import { startHarness, type Harness } from "../helpers/http-harness.ts";

let dir: string;
let certFile: string;
let keyFile: string;
let cert: string;

function makeCert(name: string): { certFile: string; keyFile: string } {
  const out = { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
  const r = spawnSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", out.keyFile, "-out", out.certFile],
    { encoding: "utf8", timeout: 30_000 },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "tq-tls-"));
  ({ certFile, keyFile } = makeCert("server"));
  cert = readFileSync(certFile, "utf8");
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Handshake with exactly one TLS version; resolves with the negotiated protocol or the error. */
function handshake(port: number, version: tls.SecureVersion, extra: tls.ConnectionOptions = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca: cert, servername: "localhost", minVersion: version, maxVersion: version, ...extra }, () => {
      resolve(`ok ${socket.getProtocol()}`);
      socket.end();
    });
    socket.on("error", (err) => resolve(`error ${err.message}`));
  });
}

describe("HTTPS", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ tls: { certFile, keyFile } });
  });

  afterAll(async () => {
    await h.stop();
  });

  test("TLS 1.2 and 1.3 complete a verified handshake; 1.0 and 1.1 are refused", async () => {
    expect(await handshake(h.http.port, "TLSv1.3")).toBe("ok TLSv1.3");
    expect(await handshake(h.http.port, "TLSv1.2")).toBe("ok TLSv1.2");
    expect(await handshake(h.http.port, "TLSv1.1")).toStartWith("error");
    expect(await handshake(h.http.port, "TLSv1")).toStartWith("error");
  });

  test("a full round trip: submit, claim, complete and read the result over https", async () => {
    expect(h.http.url).toStartWith("https://");
    const base = `https://127.0.0.1:${h.http.port}`;
    const submit = await fetch(`${base}/api/v1/tasks`, {
      method: "POST",
      body: JSON.stringify({ type: "secure", queue: "tls", payload: { n: 1 } }),
      tls: { ca: cert },
    });
    expect(submit.status).toBe(201);
    const { id } = (await submit.json()) as { id: string };
    const [lease] = await h.broker.claim({ workerId: "tls-w", queues: ["tls"], max: 1, waitMs: 0 });
    await h.broker.complete({ id, token: lease!.token }, { result: new TextEncoder().encode('"done"'), resultIsJson: true });
    const got = await fetch(`${base}/api/v1/tasks/${id}/result`, { tls: { ca: cert } });
    expect(await got.json()).toMatchObject({ id, status: "completed", payload: { n: 1 }, result: "done" });
  });

  test("the dashboard and its event stream come over https from the REST listener only", async () => {
    const base = `https://127.0.0.1:${h.http.port}`;
    const page = await fetch(`${base}/`, { tls: { ca: cert } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script src="/dashboard/app.js" defer></script>');
    expect((await fetch(`${base}/dashboard/app.js`, { tls: { ca: cert } })).status).toBe(200);
    const abort = new AbortController();
    const events = await fetch(`${base}/api/v1/events`, { tls: { ca: cert }, signal: abort.signal });
    const first = await events.body!.getReader().read();
    expect(new TextDecoder().decode(first.value)).toContain("retry: 2000");
    abort.abort();
    // The metrics listener (TLS too) serves /metrics, not the dashboard.
    const other = await fetch(`https://127.0.0.1:${h.metricsPort}/`, { tls: { ca: cert } });
    expect(other.status).toBe(404);
    expect((await fetch(`https://127.0.0.1:${h.metricsPort}/dashboard/app.js`, { tls: { ca: cert } })).status).toBe(404);
  });

  test("a client that does not trust the certificate is refused, and plain HTTP gets no reply", async () => {
    const untrusted = await fetch(`https://127.0.0.1:${h.http.port}/healthz`).then(
      (r) => `status ${r.status}`,
      (err: Error) => `error ${err.message}`,
    );
    expect(untrusted).toStartWith("error");
    const plain = await fetch(`http://127.0.0.1:${h.http.port}/healthz`, { signal: AbortSignal.timeout(5_000) }).then(
      (r) => `status ${r.status}`,
      (err: Error) => `error ${err.message}`,
    );
    expect(plain).not.toBe("status 200");
  });
});

describe("client certificates (tls_ca_file)", () => {
  test("with a CA configured, a client without a certificate is refused and one signed by the CA is served", async () => {
    const client = makeCert("client");
    const h = await startHarness({ tls: { certFile, keyFile, caFile: client.certFile } });
    try {
      const clientCert = readFileSync(client.certFile, "utf8");
      const clientKey = readFileSync(client.keyFile, "utf8");
      const url = `https://127.0.0.1:${h.http.port}/healthz`;
      const without = await fetch(url, { tls: { ca: cert } }).then(
        (r) => `status ${r.status}`,
        (err: Error) => `error ${err.message}`,
      );
      expect(without).toStartWith("error");
      const withCert = await fetch(url, { tls: { ca: cert, cert: clientCert, key: clientKey } });
      expect(withCert.status).toBe(200);
    } finally {
      await h.stop();
    }
  });
});

describe("start-up failures name the config key and the path", () => {
  function failure(files: TlsFiles): TlsConfigError {
    try {
      loadTls(files);
    } catch (err) {
      expect(err).toBeInstanceOf(TlsConfigError);
      return err as TlsConfigError;
    }
    throw new Error("loadTls accepted bad files");
  }

  test("an empty cert or key path", () => {
    const noCert = failure({ certFile: "", keyFile });
    expect(noCert.key).toBe("api.tls_cert_file");
    expect(noCert.message).toContain("api.enable_tls is true but api.tls_cert_file is empty");
    expect(failure({ certFile, keyFile: " " }).key).toBe("api.tls_key_file");
  });

  test("a missing file", () => {
    const missing = join(dir, "nope.crt");
    const err = failure({ certFile: missing, keyFile });
    expect(err.key).toBe("api.tls_cert_file");
    expect(err.path).toBe(missing);
    expect(err.message).toContain(missing);
    expect(err.message).toContain("no such file");
  });

  test("a path that cannot be read as a file", () => {
    const sub = join(dir, "a-directory");
    mkdirSync(sub, { recursive: true });
    const err = failure({ certFile, keyFile: sub });
    expect(err.key).toBe("api.tls_key_file");
    expect(err.message).toContain(sub);
  });

  test("a file that is not PEM, and PEM that holds no certificate", () => {
    const junk = join(dir, "junk.pem");
    writeFileSync(junk, "hello");
    expect(failure({ certFile: junk, keyFile }).message).toContain("is not PEM");
    // A key where the certificate should be: PEM, but not X.509.
    const err = failure({ certFile: keyFile, keyFile });
    expect(err.key).toBe("api.tls_cert_file");
    expect(err.message).toContain("no valid X.509 certificate");
  });

  test("a key that does not match the certificate", () => {
    const other = makeCert("other");
    const err = failure({ certFile, keyFile: other.keyFile });
    expect(err.key).toBe("api.tls_key_file");
    expect(err.message).toContain("does not match");
  });

  test("a missing CA file, and config keys of another listener when given", () => {
    const err = failure({ certFile, keyFile, caFile: join(dir, "ca-missing.pem") });
    expect(err.key).toBe("api.tls_ca_file");
    const named = failure({
      certFile: "",
      keyFile,
      keys: { enable: "broker.enable_tls", cert: "broker.tls_cert_file", key: "broker.tls_key_file", ca: "broker.tls_ca_file" },
    });
    expect(named.message).toContain("broker.tls_cert_file");
  });

  test("good files load with TLS 1.0/1.1 switched off and the certificate's facts", () => {
    const material = loadTls({ certFile, keyFile });
    expect(material.subject).toContain("CN=localhost");
    expect(material.validToMs).toBeGreaterThan(Date.now());
    expect(material.requestCert).toBe(false);
    expect(material.secureOptions & constants.SSL_OP_NO_TLSv1).toBe(constants.SSL_OP_NO_TLSv1);
    expect(material.secureOptions & constants.SSL_OP_NO_TLSv1_1).toBe(constants.SSL_OP_NO_TLSv1_1);
  });
});
