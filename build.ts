// Builds the single `tq-broker` executable: type-check first (bun build strips types without
// checking them), then `bun build --compile` with the version and target platform embedded. Usage:
//   bun run build.ts             dist/tq-broker for this machine
//   bun run build.ts --all       also dist/tq-broker-<platform> for every platform below, and dist/SHA256SUMS
//   bun run build.ts --release   (npm run release) --all, then dist/release/: one tq-broker-<version>-<platform>.tar.gz
//                                per platform, the SDK's npm tarball, SHA256SUMS over them (scripts/release.ts)
//   --platform P                 with --all or --release: only P (repeatable), e.g. --platform linux-x64
//   bun run build.ts --sdk       dist/sdk/: the npm package's JavaScript and .d.ts (npm pack runs this)
//   bun run build.ts --docs      rewrite config/broker.yaml and the key table in docs/configuration.md
//   --out DIR                    write the executables (and release/) to DIR instead of dist/

import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import { buildSdk } from "./scripts/build-sdk.ts";
import { packRelease, sha256 } from "./scripts/release.ts";
import { runTool, type ToolResult } from "./scripts/run-tool.ts";
import { renderDefaultYaml, withConfigTable } from "./src/config/config-docs.ts";
import { runtimePlatform } from "./src/version.ts";

const ROOT = import.meta.dir;
const ENTRY = "src/cli/main.ts";

/**
 * Release platforms (the archive's and `tq-broker version`'s name) -> Bun's --target. No -baseline
 * x64 variant: in Bun 1.4.5 it is an alias (node_modules/bun/install.js says so, and the
 * bun-linux-x64-baseline runtime is byte for byte bun-linux-x64's), so it would be the same file.
 * Windows is left out: the broker is not tested there.
 */
const PLATFORMS = {
  "linux-x64": "bun-linux-x64",
  "linux-x64-musl": "bun-linux-x64-musl",
  "linux-arm64": "bun-linux-arm64",
  "linux-arm64-musl": "bun-linux-arm64-musl",
  "darwin-x64": "bun-darwin-x64",
  "darwin-arm64": "bun-darwin-arm64",
} as const satisfies Record<string, string>;
type Platform = keyof typeof PLATFORMS;

function isPlatform(name: string): name is Platform {
  return Object.hasOwn(PLATFORMS, name);
}

interface BuildStamp {
  version: string;
  commit: string;
}

function gitCommit(): string {
  const proc = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: ROOT, stdout: "pipe", stderr: "ignore" });
  return proc.success ? proc.stdout.toString().trim() : "unknown";
}

/** `target` undefined compiles for this machine with the Bun that runs this script. */
function compile(outfile: string, platform: string, target: string | undefined, stamp: BuildStamp): ToolResult {
  return runTool(
    [
      process.execPath,
      "build",
      "--compile",
      // A compiled binary would otherwise read .env and bunfig.toml from whatever directory it
      // is started in, changing its behaviour per directory.
      "--no-compile-autoload-dotenv",
      "--no-compile-autoload-bunfig",
      // Ships the code pre-parsed to JavaScriptCore bytecode: `version` and `serve` to listening
      // start about twice as fast for 4 MB more (docs/install.md, "Start-up time"). ESM, because
      // --bytecode alone means CommonJS, which cannot hold main.ts's top-level await.
      // Not --minify: no measurable start-up gain, 0.4 MB less, and unreadable stack traces.
      "--bytecode",
      "--format=esm",
      ...(target === undefined ? [] : [`--target=${target}`]),
      "--define",
      `TQ_BUILD_VERSION=${JSON.stringify(stamp.version)}`,
      "--define",
      `TQ_BUILD_COMMIT=${JSON.stringify(stamp.commit)}`,
      "--define",
      `TQ_BUILD_PLATFORM=${JSON.stringify(platform)}`,
      ENTRY,
      "--outfile",
      outfile,
    ],
    ROOT,
    `bun build --compile ${target ?? "(this machine)"}`,
  );
}

/** Cross-compiling downloads the target's Bun runtime; offline, that is the usual failure. */
function looksOffline(output: string): boolean {
  return /download|fetch|network|ENOTFOUND|ECONNREFUSED|EAI_AGAIN|ConnectionRefused|unable to connect/i.test(output);
}

function writeDocs(): void {
  writeFileSync(resolve(ROOT, "config/broker.yaml"), renderDefaultYaml());
  const docPath = resolve(ROOT, "docs/configuration.md");
  writeFileSync(docPath, withConfigTable(readFileSync(docPath, "utf8")));
  console.log("build: wrote config/broker.yaml and the key table of docs/configuration.md");
}

interface BuildArgs {
  dist: string;
  mode: "machine" | "all" | "release" | "sdk" | "docs";
  platforms: Platform[];
}

function parseBuildArgs(argv: readonly string[]): BuildArgs | string {
  const args: BuildArgs = { dist: resolve(ROOT, "dist"), mode: "machine", platforms: [] };
  const modes: Record<string, BuildArgs["mode"]> = { "--all": "all", "--release": "release", "--sdk": "sdk", "--docs": "docs" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const mode = modes[arg];
    if (mode !== undefined) {
      if (args.mode !== "machine" && args.mode !== mode) return `${arg} cannot be combined with --${args.mode}`;
      args.mode = mode;
    } else if (arg === "--out" || arg === "--platform") {
      const value = argv[++i];
      if (value === undefined) return `${arg} needs a value`;
      if (arg === "--out") args.dist = resolve(value);
      else if (isPlatform(value)) args.platforms.push(value);
      else return `--platform ${value}: unknown platform (one of ${Object.keys(PLATFORMS).join(", ")})`;
    } else {
      return `unknown option ${arg} (options: --all, --release, --platform P, --sdk, --docs, --out DIR)`;
    }
  }
  if (args.platforms.length > 0 && args.mode !== "all" && args.mode !== "release") return "--platform needs --all or --release";
  return args;
}

async function build(argv: readonly string[]): Promise<number> {
  const args = parseBuildArgs(argv);
  if (typeof args === "string") {
    console.error(`build: ${args}`);
    return 64;
  }
  if (args.mode === "docs") {
    writeDocs();
    return 0;
  }
  if (args.mode === "sdk") return buildSdk(ROOT) ? 0 : 1;

  if (!runTool([resolve(ROOT, "node_modules/.bin/tsc"), "-p", "."], ROOT, "type-check (tsc -p .)").ok) return 1;
  const pkg = JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")) as { version: string };
  const stamp: BuildStamp = { version: pkg.version, commit: gitCommit() };
  const { dist } = args;
  mkdirSync(dist, { recursive: true });

  const main = resolve(dist, "tq-broker");
  const machine = runtimePlatform();
  if (!compile(main, machine, undefined, stamp).ok) return 1;
  console.log(`build: ${main} (version ${stamp.version}, commit ${stamp.commit}, ${machine})`);
  if (args.mode === "machine") return 0;

  const executables = new Map<string, string>();
  const missing: string[] = [];
  const wanted = args.platforms.length > 0 ? args.platforms : (Object.keys(PLATFORMS) as Platform[]);
  for (const platform of wanted) {
    const outfile = resolve(dist, `tq-broker-${platform}`);
    // This machine's platform is the executable just built: the same runtime, no second compile.
    if (platform === machine) copyFileSync(main, outfile);
    else {
      const result = compile(outfile, platform, PLATFORMS[platform], stamp);
      if (!result.ok) {
        missing.push(platform);
        if (looksOffline(result.output)) {
          console.error(`build: ${platform} not built: cross-compiling downloads that target's Bun runtime, and the download failed (offline?)`);
        }
        continue;
      }
    }
    executables.set(platform, outfile);
    console.log(`build: ${outfile}`);
  }
  const built = [main, ...executables.values()];
  const sums = await Promise.all(built.map(async (f) => `${await sha256(f)}  ${basename(f)}`));
  writeFileSync(resolve(dist, "SHA256SUMS"), `${sums.join("\n")}\n`);
  console.log(`build: ${resolve(dist, "SHA256SUMS")} (${built.length} files)`);
  if (missing.length > 0) {
    console.error(`build: built ${executables.size} of ${wanted.length} platforms; missing: ${missing.join(", ")}`);
    return 1;
  }
  if (args.mode === "all") return 0;
  const released = await packRelease({ root: ROOT, releaseDir: resolve(dist, "release"), version: stamp.version, executables });
  return released ? 0 : 1;
}

process.exit(await build(Bun.argv.slice(2)));
