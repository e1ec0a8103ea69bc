// The config package's public face: import from "config/index.ts", not from its parts.

export { ConfigError, formatConfigErrors, type ConfigProblem } from "./config-error.ts";
export { configWarnings, type ConfigWarning } from "./config-warnings.ts";
export { loadConfig, loadConfigWithSources, type LoadConfigOptions, type LoadedConfig } from "./load-config.ts";
export { MASK, maskSecrets } from "./mask-secrets.ts";
export { bindOrExplain, listenError, ListenError } from "./listen-error.ts";
export {
  API_KEY_ROLES,
  CONFIG_KEYS,
  ConfigSchema,
  DEFAULT_CONFIG,
  MIN_API_KEY_CHARS,
  SECTION_NAMES,
  type ApiKeyConfig,
  type ApiKeyRole,
  type Config,
  type KeyInfo,
  type KeyMeta,
  type SectionName,
} from "./schema.ts";
