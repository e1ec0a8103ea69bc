// Packs what a release publishes into dist/release/ (build.ts --release): one .tar.gz per platform
// holding the executable, the shipped config, README and LICENSE; the SDK's npm tarball; and
// SHA256SUMS over all of them. Compiling the executables is build.ts's job, not this file's.

import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { runTool } from "./run-tool.ts";

export interface ReleaseInput {
  root: string;
  /** dist/release/ is emptied first: a stale archive must never be listed in SHA256SUMS. */
  releaseDir: string;
  version: string;
  /** Platform name (linux-x64-musl) -> path of the executable compiled for it. */
  executables: ReadonlyMap<string, string>;
}

/** Where each file sits inside an archive's top directory, and its mode. */
const ARCHIVE_FILES = [
  { from: "config/broker.yaml", to: "config/broker.yaml" },
  { from: "config/tq-broker.service", to: "config/tq-broker.service" },
  { from: "README.md", to: "README.md" },
  { from: "LICENSE", to: "LICENSE" },
] as const;

export async function packRelease(input: ReleaseInput): Promise<boolean> {
  const { root, releaseDir, version } = input;
  rmSync(releaseDir, { recursive: true, force: true });
  mkdirSync(releaseDir, { recursive: true });
  const published: string[] = [];

  for (const [platform, executable] of input.executables) {
    const archive = packArchive(root, releaseDir, `tq-broker-${version}-${platform}`, executable);
    if (archive === null) return false;
    published.push(archive);
  }

  const sdk = packSdk(root, releaseDir, version);
  if (sdk === null) return false;
  published.push(sdk);

  const sums = await Promise.all(published.map(async (file) => `${await sha256(file)}  ${basename(file)}`));
  writeFileSync(join(releaseDir, "SHA256SUMS"), `${sums.join("\n")}\n`);
  for (const file of published) console.log(`build: ${file}`);
  console.log(`build: ${join(releaseDir, "SHA256SUMS")} (${published.length} files)`);
  return true;
}

/** tq-broker-0.1.0-linux-x64.tar.gz, unpacking to one directory of the same name. */
function packArchive(root: string, releaseDir: string, name: string, executable: string): string | null {
  const stage = join(releaseDir, ".stage");
  const top = join(stage, name);
  mkdirSync(join(top, "config"), { recursive: true });
  copyFileSync(executable, join(top, "tq-broker"));
  chmodSync(join(top, "tq-broker"), 0o755);
  for (const file of ARCHIVE_FILES) {
    const to = join(top, file.to);
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(resolve(root, file.from), to);
    chmodSync(to, 0o644);
  }
  const archive = join(releaseDir, `${name}.tar.gz`);
  const ok = runTool(["tar", ...tarOwnerFlags(), "-czf", archive, "-C", stage, name], root, `tar ${basename(archive)}`).ok;
  rmSync(stage, { recursive: true, force: true });
  return ok ? archive : null;
}

/**
 * Entries owned by root (0:0) rather than by whoever ran the build: `sudo tar -xzf` would
 * otherwise hand the files to that build user's uid. GNU tar (Linux) and bsdtar (macOS) spell it
 * differently; another tar keeps its default.
 */
function tarOwnerFlags(): string[] {
  const proc = Bun.spawnSync(["tar", "--version"], { stdout: "pipe", stderr: "ignore" });
  const version = proc.stdout.toString();
  if (version.includes("GNU tar")) return ["--owner=0", "--group=0", "--numeric-owner", "--sort=name"];
  if (version.includes("bsdtar")) return ["--uid", "0", "--gid", "0", "--numeric-owner"];
  return [];
}

/** `npm pack` (its prepack step builds dist/sdk/) straight into the release directory. */
function packSdk(root: string, releaseDir: string, version: string): string | null {
  if (!runTool(["npm", "pack", "--silent", "--pack-destination", releaseDir], root, "npm pack (the SDK package)").ok) return null;
  const tarball = join(releaseDir, `tq-broker-${version}.tgz`);
  if (!existsSync(tarball)) {
    console.error(`build: npm pack did not write ${tarball}`);
    return null;
  }
  return tarball;
}

export async function sha256(file: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  hasher.update(await Bun.file(file).arrayBuffer());
  return hasher.digest("hex");
}
