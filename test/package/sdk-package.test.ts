// The SDK as users get it from npm: `npm pack` of this repository, installed OFFLINE into a fresh
// Node.js project, type-checked with strict nodenext and bundler settings, and run by plain `node`
// (no Bun) against a real broker: a submit, and a Worker that completes the task.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { REPO_ROOT } from "../helpers/cli.ts";
import { inheritedEnv, mustRun, runCommand } from "../helpers/run-command.ts";

const root = mkdtempSync(join(tmpdir(), "tq-sdk-package-"));
const app = join(root, "app");
const TSC = resolve(REPO_ROOT, "node_modules/.bin/tsc");
const pkg = JSON.parse(readFileSync(resolve(REPO_ROOT, "package.json"), "utf8")) as { version: string };
const tarball = join(root, `tq-broker-${pkg.version}.tgz`);
let broker: TestBroker;
/** What `npm install` of the tarball alone put into node_modules. */
let installedNames: string[] = [];

const PROGRAM = `import { Client, Worker, TqError, type Task } from "tq-broker";

if ("Bun" in globalThis) throw new Error("this must run under plain Node.js");
const client = new Client(); // TQ_URL from the environment
const worker = new Worker({ queues: ["pkg"], concurrency: 1, handleSignals: false });
worker.register<{ n: number }, { doubled: number }>("double", async (task) => ({ doubled: task.payload.n * 2 }));
await worker.start();
const { id } = await client.submit("double", { n: 21 }, { queue: "pkg", priority: "high" });
const result = await client.result<{ doubled: number }>(id, { wait: 10_000 });
const task: Task = await client.status(id);
console.log(JSON.stringify({ result, status: task.status, errorBase: typeof TqError, runtime: process.release.name }));
await worker.stop();
await client.close();
`;

/** Wrong on purpose: proves the declarations carry real types, not `any`. */
const WRONG = `import { Client } from "tq-broker";
const client = new Client({ url: "tq://127.0.0.1:6379" });
await client.submit(42);
`;

const TSCONFIGS = {
  nodenext: { strict: true, target: "es2022", module: "nodenext", types: ["node"], outDir: "out" },
  bundler: { strict: true, target: "es2022", module: "esnext", moduleResolution: "bundler", types: ["node"], noEmit: true },
} as const;

function writeTsconfig(name: keyof typeof TSCONFIGS, file: string): string {
  const path = join(app, `tsconfig.${name}.${file.replace(/\.ts$/, "")}.json`);
  writeFileSync(path, JSON.stringify({ compilerOptions: TSCONFIGS[name], files: [file] }, null, 2));
  return path;
}

beforeAll(async () => {
  await mustRun(["npm", "pack", "--silent", "--pack-destination", root], { cwd: REPO_ROOT, timeoutMs: 120_000 });
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  await mustRun(["npm", "install", "--offline", "--no-audit", "--no-fund", tarball], { cwd: app, timeoutMs: 120_000 });
  installedNames = readdirSync(join(app, "node_modules")).sort();
  // A Node.js project type-checks with @types/node. npm cannot install it offline by name (the
  // cache holds its tarball but not the registry's index), so copy this repository's copy in.
  for (const dep of ["@types/node", "undici-types"]) cpSync(resolve(REPO_ROOT, "node_modules", dep), join(app, "node_modules", dep), { recursive: true });
  writeFileSync(join(app, "main.ts"), PROGRAM);
  writeFileSync(join(app, "wrong.ts"), WRONG);
  broker = await startBroker();
}, 240_000);

afterAll(async () => {
  await broker?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("the npm package", () => {
  test("the tarball holds compiled JavaScript and .d.ts files, no TypeScript sources and nothing of the broker", async () => {
    const listing = (await mustRun(["tar", "-tzf", tarball], { cwd: root })).stdout.trim().split("\n").sort();
    expect(listing).toContain("package/dist/sdk/index.js");
    expect(listing).toContain("package/dist/sdk/index.d.ts");
    expect(listing).toContain("package/LICENSE");
    const unexpected = listing.filter((f) => !/^package\/(package\.json|README\.md|LICENSE|dist\/sdk\/.+\.(js|d\.ts))$/.test(f));
    expect(unexpected).toEqual([]);
    expect(listing.some((f) => /\/(store|net|http|broker|cli)\//.test(f))).toBe(false);
  });

  test("installed: no dependencies, MIT, and its JavaScript imports only node: modules and its own files", () => {
    const dir = join(app, "node_modules/tq-broker");
    const installed = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Record<string, unknown>;
    expect(installed.dependencies ?? {}).toEqual({});
    expect(installed.optionalDependencies ?? {}).toEqual({});
    expect(installed.peerDependencies ?? {}).toEqual({});
    expect(installed.license).toBe("MIT");
    expect(installed.private).toBeUndefined();
    expect(installedNames.filter((name) => !name.startsWith("."))).toEqual(["tq-broker"]);

    const specifiers = new Set<string>();
    for (const entry of readdirSync(join(dir, "dist"), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const text = readFileSync(join(entry.parentPath, entry.name), "utf8");
      for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^"';]*?\sfrom\s+["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g)) {
        const spec = m[1] ?? m[2]!;
        if (spec.startsWith(".")) {
          // Relative imports name real files of the package (.js in both the JS and the .d.ts).
          expect(spec.endsWith(".js")).toBe(true);
          const target = resolve(entry.parentPath, entry.name.endsWith(".d.ts") ? spec.replace(/\.js$/, ".d.ts") : spec);
          expect(readFileSync(target).length).toBeGreaterThan(0);
        } else specifiers.add(spec);
      }
    }
    expect([...specifiers].every((s) => s.startsWith("node:"))).toBe(true);
    expect(specifiers).toContain("node:net");
  });

  for (const name of ["nodenext", "bundler"] as const) {
    test(`type-checks under strict ${name} resolution, and a wrong call is a type error`, async () => {
      const ok = await runCommand([TSC, "-p", writeTsconfig(name, "main.ts"), ...(name === "nodenext" ? [] : ["--noEmit"])], { cwd: app });
      expect(ok.stdout + ok.stderr).toBe("");
      expect(ok.exitCode).toBe(0);
      const wrong = await runCommand([TSC, "-p", writeTsconfig(name, "wrong.ts"), "--noEmit"], { cwd: app });
      expect(wrong.exitCode).not.toBe(0);
      expect(wrong.stdout).toContain("wrong.ts(3,21): error TS2345: Argument of type 'number' is not assignable to parameter of type 'string'.");
    }, 60_000);
  }

  test("runs under node, without Bun: a submit, and a Worker completes the task", async () => {
    // tsc -p nodenext wrote out/main.js above; compile again in case this test runs alone.
    await mustRun([TSC, "-p", writeTsconfig("nodenext", "main.ts")], { cwd: app });
    const node = Bun.which("node");
    if (node === null) throw new Error("node is not on PATH");
    const path = dirname(node);
    expect(Bun.which("bun", { PATH: path })).toBeNull();
    const env = { ...inheritedEnv(), PATH: path, TQ_URL: `tq://127.0.0.1:${broker.port}` };
    const r = await runCommand([node, "out/main.js"], { cwd: app, env, timeoutMs: 30_000 });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ result: { doubled: 42 }, status: "completed", errorBase: "function", runtime: "node" });
    expect(r.exitCode).toBe(0);
  }, 60_000);
});
