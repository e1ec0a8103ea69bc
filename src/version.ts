// The version this program reports: embedded by build.ts (--define) in a compiled binary, read
// from package.json when run from source. No other file decides what the version is.

import { readFileSync } from "node:fs";
import { resolve } from "node:path";

// Replaced with string literals by `bun build --define` in build.ts; absent when run from source.
declare const TQ_BUILD_VERSION: string | undefined;
declare const TQ_BUILD_COMMIT: string | undefined;

export interface VersionInfo {
  name: "tq-broker";
  version: string;
  /** "compiled" for a build.ts binary, "source" for `bun src/cli/main.ts`. */
  build: "compiled" | "source";
  commit: string;
  bun: string;
  platform: string;
}

export function versionInfo(): VersionInfo {
  const compiled = typeof TQ_BUILD_VERSION === "string";
  return {
    name: "tq-broker",
    version: compiled ? TQ_BUILD_VERSION : sourceVersion(),
    build: compiled ? "compiled" : "source",
    commit: typeof TQ_BUILD_COMMIT === "string" ? TQ_BUILD_COMMIT : "unknown",
    bun: Bun.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/** The version string alone, for logs and the Hello reply. */
export const VERSION: string = versionInfo().version;

function sourceVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(resolve(import.meta.dir, "../package.json"), "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : "0.0.0-unknown";
  } catch {
    return "0.0.0-unknown";
  }
}
