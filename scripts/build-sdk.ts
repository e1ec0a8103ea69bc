// Builds dist/sdk/, what the npm package ships: src/index.ts and everything it imports compiled by
// tsc (tsconfig.sdk.json) to ESM JavaScript plus .d.ts files for Node.js >= 20. `npm pack` runs it
// (prepack, through build.ts --sdk); it must not touch anything outside dist/sdk/.

import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { runTool } from "./run-tool.ts";

/**
 * tsc rewrites `./x.ts` to `./x.js` in the JavaScript but keeps `./x.ts` in the .d.ts files
 * (microsoft/TypeScript#61037). TypeScript itself accepts that, but TypeScript before 5.0 and
 * other tools reading declarations do not, so the shipped .d.ts files name the .js files.
 */
const TS_SPECIFIER = /(\bfrom\s+|\bimport\s*\(\s*)(["'])(\.{1,2}\/[^"']+)\.ts\2/g;

export function buildSdk(root: string): boolean {
  const outDir = resolve(root, "dist/sdk");
  rmSync(outDir, { recursive: true, force: true });
  if (!runTool([resolve(root, "node_modules/.bin/tsc"), "-p", "tsconfig.sdk.json"], root, "SDK compile (tsc -p tsconfig.sdk.json)").ok) return false;

  const unresolved: string[] = [];
  for (const file of declarationFiles(outDir)) {
    const text = readFileSync(file, "utf8").replace(TS_SPECIFIER, (_all, keyword: string, quote: string, path: string) => {
      if (!existsSync(resolve(dirname(file), `${path}.d.ts`))) unresolved.push(`${file}: ${path}.ts`);
      return `${keyword}${quote}${path}.js${quote}`;
    });
    writeFileSync(file, text);
  }
  if (unresolved.length > 0) {
    console.error(`build: SDK declarations import files that were not emitted:\n${unresolved.join("\n")}`);
    return false;
  }
  console.log(`build: ${outDir} (SDK JavaScript and .d.ts)`);
  return true;
}

function declarationFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".d.ts"))
    .map((entry) => join(entry.parentPath, entry.name));
}
