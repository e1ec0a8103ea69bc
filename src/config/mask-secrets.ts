// Masks credentials before a config is printed or logged: API keys, and the password in the
// PostgreSQL URL (in its user-info part or as a password= parameter). Returns a copy; never mutates.

import type { Config } from "./schema.ts";

export const MASK = "***";

export function maskSecrets(config: Config): Config {
  return {
    ...config,
    persistence: {
      ...config.persistence,
      postgres: { ...config.persistence.postgres, url: maskUrlPassword(config.persistence.postgres.url) },
    },
    auth: {
      ...config.auth,
      api_keys: config.auth.api_keys.map((k) => ({
        ...k,
        ...(k.key === undefined ? {} : { key: MASK }),
        ...(k.key_sha256 === undefined ? {} : { key_sha256: MASK }),
      })),
    },
  };
}

/**
 * postgres://user:secret@host/db -> postgres://user:***@host/db, and ?password=secret ->
 * ?password=***. Text that is not such a URL comes back as it is.
 */
export function maskUrlPassword(url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^/?#]*@/i, `$1:${MASK}@`)
    .replace(/([?&]password=)[^&#]*/gi, `$1${MASK}`);
}
