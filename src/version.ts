// The version this program reports: embedded by build.ts (--define) in a compiled binary, read
// from package.json when run from source. No other file decides what the version is.

import { readFileSync } from "node:fs";
import { resolve } from "node:path";

// Replaced with string literals by `bun build --define` in build.ts; absent when run from source.
declare const TQ_BUILD_VERSION: string | undefined;
declare const TQ_BUILD_COMMIT: string | undefined;
/** The platform the binary was compiled FOR (its release archive's name), e.g. linux-x64-musl. */
declare const TQ_BUILD_PLATFORM: string | undefined;

export interface VersionInfo {
  name: "tq-broker";
  version: string;
  /** "compiled" for a build.ts binary, "source" for `bun src/cli/main.ts`. */
  build: "compiled" | "source";
  commit: string;
  bun: string;
  /** os-arch[-musl], as the release archives are named: linux-x64, linux-arm64-musl, darwin-arm64. */
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
    platform: typeof TQ_BUILD_PLATFORM === "string" ? TQ_BUILD_PLATFORM : runtimePlatform(),
  };
}

/** The version string alone, for logs and the Hello reply. */
export const VERSION: string = typeof TQ_BUILD_VERSION === "string" ? TQ_BUILD_VERSION : sourceVersion();

/**
 * The platform this process runs on, named as the release archives are. process.arch cannot tell
 * glibc from musl; Node's report header names the glibc version only when glibc is loaded.
 */
export function runtimePlatform(): string {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform !== "linux") return base;
  const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
  return report.header?.glibcVersionRuntime === undefined ? `${base}-musl` : base;
}

function sourceVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(resolve(import.meta.dir, "../package.json"), "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : "0.0.0-unknown";
  } catch {
    return "0.0.0-unknown";
  }
}
