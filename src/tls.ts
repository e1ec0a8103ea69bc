// Loads and checks the TLS certificate, key and optional client CA for Bun.listen and Bun.serve,
// failing closed at start with a message naming the config key and the path. Reads files only;
// binds nothing and reads no global config.

import { X509Certificate, constants, createPrivateKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";

/** TLS 1.0 and 1.1 are refused (RFC 8996); 1.2 and 1.3 are served. */
export const TLS_SECURE_OPTIONS = constants.SSL_OP_NO_SSLv2 | constants.SSL_OP_NO_SSLv3 | constants.SSL_OP_NO_TLSv1 | constants.SSL_OP_NO_TLSv1_1;

/**
 * TLS 1.2 suites offered: ECDHE key exchange with AEAD ciphers only (Mozilla's "intermediate"
 * list less DHE, which BoringSSL does not do). Static-RSA suites (AES128-GCM-SHA256 and the like)
 * have no forward secrecy: a stolen server key decrypts every recorded session. CBC-SHA1 suites
 * go too. TLS 1.3 suites are all forward-secret and not set by this string.
 */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Empty or absent: no client certificates asked for. Set: clients must present one signed by it. */
  caFile?: string;
  /** Config keys named in errors; default the api.tls_* keys. */
  keys?: { enable: string; cert: string; key: string; ca: string };
}

/** What Bun.serve / Bun.listen take as `tls`, plus facts for the start-up log line. */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca?: string;
  requestCert: boolean;
  rejectUnauthorized: boolean;
  secureOptions: number;
  ciphers: string;
  /** The certificate's subject and expiry, for the log. */
  subject: string;
  validToMs: number;
}

export class TlsConfigError extends Error {
  /** The config key to fix, e.g. "api.tls_cert_file". */
  readonly key: string;
  readonly path: string;

  constructor(key: string, path: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.key = key;
    this.path = path;
  }

  override get name(): string {
    return "TlsConfigError";
  }
}

const DEFAULT_KEYS = { enable: "api.enable_tls", cert: "api.tls_cert_file", key: "api.tls_key_file", ca: "api.tls_ca_file" };

const READ_REASONS: Readonly<Record<string, string>> = {
  ENOENT: "no such file",
  EACCES: "permission denied (the broker's user cannot read it)",
  EISDIR: "it is a directory, not a file",
};

function readPem(key: string, path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = typeof err === "object" && err !== null ? String((err as { code?: unknown }).code ?? "") : "";
    const reason = READ_REASONS[code] ?? (err instanceof Error ? err.message : String(err));
    throw new TlsConfigError(key, path, `TLS: cannot read the ${what} ${JSON.stringify(path)} (set by ${key}): ${reason}`, err);
  }
  if (!text.includes("-----BEGIN ")) {
    throw new TlsConfigError(key, path, `TLS: ${JSON.stringify(path)} (set by ${key}) is not PEM: expected a "-----BEGIN ..." block for the ${what}`);
  }
  return text;
}

function parseCert(key: string, path: string, pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new TlsConfigError(key, path, `TLS: ${JSON.stringify(path)} (set by ${key}) holds no valid X.509 certificate: ${String(err)}`, err);
  }
}

function parseKey(key: string, path: string, pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new TlsConfigError(key, path, `TLS: ${JSON.stringify(path)} (set by ${key}) holds no usable private key (encrypted keys are not supported): ${String(err)}`, err);
  }
}

/**
 * Reads and checks the files; every failure is a TlsConfigError naming the key and path, so the
 * broker refuses to start rather than serve plaintext or a broken handshake.
 */
export function loadTls(files: TlsFiles): TlsMaterial {
  const keys = files.keys ?? DEFAULT_KEYS;
  for (const [key, path] of [
    [keys.cert, files.certFile],
    [keys.key, files.keyFile],
  ] as const) {
    if (path.trim() === "") throw new TlsConfigError(key, path, `TLS: ${keys.enable} is true but ${key} is empty; give the path of a PEM file`);
  }
  const cert = readPem(keys.cert, files.certFile, "certificate");
  const keyPem = readPem(keys.key, files.keyFile, "private key");
  const x509 = parseCert(keys.cert, files.certFile, cert);
  const privateKey = parseKey(keys.key, files.keyFile, keyPem);
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsConfigError(
      keys.key,
      files.keyFile,
      `TLS: the private key ${JSON.stringify(files.keyFile)} (${keys.key}) does not match the certificate ${JSON.stringify(files.certFile)} (${keys.cert})`,
    );
  }
  const caFile = files.caFile ?? "";
  let ca: string | undefined;
  if (caFile.trim() !== "") {
    ca = readPem(keys.ca, caFile, "CA bundle");
    parseCert(keys.ca, caFile, ca);
  }
  return {
    cert,
    key: keyPem,
    ...(ca === undefined ? {} : { ca }),
    requestCert: ca !== undefined,
    rejectUnauthorized: ca !== undefined,
    secureOptions: TLS_SECURE_OPTIONS,
    ciphers: TLS12_CIPHERS,
    subject: x509.subject,
    validToMs: Date.parse(x509.validTo),
  };
}

/**
 * The one TLS policy of every listener (protocol, REST, metrics): what Bun.listen and Bun.serve
 * take as `tls`. Listeners pass it on whole, so no listener can drop the client-certificate rule
 * or the minimum version.
 */
export interface BunTlsOptions {
  cert: string;
  key: string;
  ca?: string;
  requestCert: boolean;
  rejectUnauthorized: boolean;
  secureOptions: number;
  ciphers: string;
}

export function bunTlsOptions(material: TlsMaterial): BunTlsOptions {
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca === undefined ? {} : { ca: material.ca }),
    requestCert: material.requestCert,
    rejectUnauthorized: material.rejectUnauthorized,
    secureOptions: material.secureOptions,
    ciphers: material.ciphers,
  };
}
