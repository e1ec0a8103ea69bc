// Settings that are valid but almost surely not what the operator meant (API keys or TLS files
// given while auth or TLS is off). Pure: returns warnings, never throws; serve logs them at start and
// `config check` prints them, so nobody runs an open broker believing it is locked.

import type { Config } from "./schema.ts";

export interface ConfigWarning {
  /** The key to look at, e.g. "auth.enabled". */
  path: string;
  message: string;
}

export function configWarnings(config: Config): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  const keys = config.auth.api_keys.length;
  if (!config.auth.enabled && keys > 0) {
    warnings.push({
      path: "auth.enabled",
      message:
        `AUTHENTICATION IS OFF although auth.api_keys lists ${keys} key${keys === 1 ? "" : "s"}: ` +
        "the keys are ignored and clients are served without one. Set auth.enabled: true (TQ_AUTH_ENABLED=true) to require them.",
    });
  }
  if (!config.auth.enabled && config.auth.metrics_require_auth) {
    warnings.push({
      path: "auth.metrics_require_auth",
      message: "auth.metrics_require_auth is true but auth.enabled is false: /metrics is served without a key. Turn auth on to protect it.",
    });
  }
  const tlsFiles = (["tls_cert_file", "tls_key_file", "tls_ca_file"] as const).filter((k) => config.api[k].trim() !== "");
  if (!config.api.enable_tls && tlsFiles.length > 0) {
    warnings.push({
      path: "api.enable_tls",
      message: `TLS IS OFF although ${tlsFiles.map((k) => `api.${k}`).join(", ")} ${tlsFiles.length === 1 ? "is" : "are"} set: every listener serves plaintext. Set api.enable_tls: true to use ${tlsFiles.length === 1 ? "it" : "them"}.`,
    });
  }
  return warnings;
}
