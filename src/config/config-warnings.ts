// Settings that are valid but almost surely not what the operator meant (API keys listed while
// auth is off). Pure: returns warnings, never throws; serve logs them at start and
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
  return warnings;
}
