// Builds the single `tq-broker` executable: type-check first (bun build strips types without
// checking them), then `bun build --compile` with the version embedded. Usage:
//   bun run build.ts           dist/tq-broker for this machine
//   bun run build.ts --all     also linux-x64, linux-arm64, darwin-arm64 and dist/SHA256SUMS
//   bun run build.ts --docs    rewrite config/broker.yaml and the key table in docs/configuration.md
//   --out DIR                  write the executables to DIR instead of dist/ (tests build privately)

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import { renderDefaultYaml, withConfigTable } from "./src/config/config-docs.ts";

const ROOT = import.meta.dir;
const ENTRY = "src/cli/main.ts";

/** Cross-compiled targets of --all: Bun's target name -> output file suffix. */
const TARGETS = {
  "bun-linux-x64": "linux-x64",
  "bun-linux-arm64": "linux-arm64",
  "bun-darwin-arm64": "darwin-arm64",
} as const;

function run(cmd: string[], what: string): { ok: boolean; output: string } {
  const proc = Bun.spawnSync(cmd, { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const output = `${proc.stdout.toString()}${proc.stderr.toString()}`;
  if (!proc.success) console.error(`build: ${what} failed (exit ${proc.exitCode})\n${output.trimEnd()}`);
  return { ok: proc.success, output };
}

function gitCommit(): string {
  const proc = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: ROOT, stdout: "pipe", stderr: "ignore" });
  return proc.success ? proc.stdout.toString().trim() : "unknown";
}

function compile(outfile: string, target: string | undefined, version: string, commit: string): { ok: boolean; output: string } {
  return run(
    [
      process.execPath,
      "build",
      "--compile",
      // A compiled binary would otherwise read .env and bunfig.toml from whatever directory it
      // is started in, changing its behaviour per directory.
      "--no-compile-autoload-dotenv",
      "--no-compile-autoload-bunfig",
      ...(target === undefined ? [] : [`--target=${target}`]),
      "--define",
      `TQ_BUILD_VERSION=${JSON.stringify(version)}`,
      "--define",
      `TQ_BUILD_COMMIT=${JSON.stringify(commit)}`,
      ENTRY,
      "--outfile",
      outfile,
    ],
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

async function sha256(file: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  hasher.update(await Bun.file(file).arrayBuffer());
  return hasher.digest("hex");
}

async function build(argv: readonly string[]): Promise<number> {
  const args = [...argv];
  let dist = resolve(ROOT, "dist");
  const outAt = args.indexOf("--out");
  if (outAt !== -1) {
    const dir = args[outAt + 1];
    if (dir === undefined) {
      console.error("build: --out needs a directory");
      return 64;
    }
    dist = resolve(dir);
    args.splice(outAt, 2);
  }
  const unknown = args.filter((a) => a !== "--all" && a !== "--docs");
  if (unknown.length > 0) {
    console.error(`build: unknown option ${unknown.join(" ")} (options: --all, --docs, --out DIR)`);
    return 64;
  }
  if (args.includes("--docs")) {
    writeDocs();
    return 0;
  }

  const tsc = resolve(ROOT, "node_modules/.bin/tsc");
  if (!run([tsc, "-p", "."], "type-check (tsc -p .)").ok) return 1;

  const pkg = JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")) as { version: string };
  const commit = gitCommit();
  mkdirSync(dist, { recursive: true });

  const built: string[] = [];
  const main = resolve(dist, "tq-broker");
  if (!compile(main, undefined, pkg.version, commit).ok) return 1;
  built.push(main);
  console.log(`build: ${main} (version ${pkg.version}, commit ${commit})`);

  if (!args.includes("--all")) return 0;
  const missing: string[] = [];
  for (const [target, suffix] of Object.entries(TARGETS)) {
    const outfile = resolve(dist, `tq-broker-${suffix}`);
    const result = compile(outfile, target, pkg.version, commit);
    if (result.ok) {
      built.push(outfile);
      console.log(`build: ${outfile}`);
    } else {
      missing.push(target);
      if (looksOffline(result.output)) {
        console.error(`build: ${target} not built: cross-compiling downloads that target's Bun runtime, and the download failed (offline?)`);
      }
    }
  }
  const sums = await Promise.all(built.map(async (f) => `${await sha256(f)}  ${basename(f)}`));
  writeFileSync(resolve(dist, "SHA256SUMS"), `${sums.join("\n")}\n`);
  console.log(`build: ${resolve(dist, "SHA256SUMS")} (${built.length} files)`);
  if (missing.length > 0) {
    console.error(`build: built ${built.length} of ${built.length + missing.length} executables; missing: ${missing.join(", ")}`);
    return 1;
  }
  return 0;
}

process.exit(await build(Bun.argv.slice(2)));
