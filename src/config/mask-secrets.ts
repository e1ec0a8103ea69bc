// Masks credentials before a config is printed or logged. Returns a copy; never mutates.

import type { Config } from "./schema.ts";

export const MASK = "***";

export function maskSecrets(config: Config): Config {
  return {
    ...config,
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
