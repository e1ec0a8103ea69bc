// The layers of docs/architecture.md as a test: which folder of src/ may import which, and no two
// folders importing each other. Reads the import lines of every source file; runs nothing.

import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../../src");

/** The layer a file belongs to: its first folder under src/, or the file itself for the leaves. */
function layerOf(file: string): string {
  const rel = relative(SRC, file);
  const [first, ...rest] = rel.split("/");
  return rest.length === 0 ? first!.replace(/\.ts$/, "") : first!;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

/** layer -> the layers its files import (relative imports inside src/ only). */
function layerImports(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) {
    const from = layerOf(file);
    const set = out.get(from) ?? new Set<string>();
    out.set(from, set);
    for (const m of readFileSync(file, "utf8").matchAll(/^(?:import|export)[^;]*?from\s+"(\.[^"]+)"/gms)) {
      const target = resolve(dirname(file), m[1]!);
      if (!target.startsWith(SRC)) continue;
      const to = layerOf(target);
      if (to !== from) set.add(to);
    }
  }
  return out;
}

const imports = layerImports();
const uses = (from: string): string[] => [...(imports.get(from) ?? [])].sort();

test("no two folders import each other", () => {
  const cycles: string[] = [];
  for (const [from, tos] of imports) for (const to of tos) if (imports.get(to)?.has(from) && from < to) cycles.push(`${from} <-> ${to}`);
  expect(cycles).toEqual([]);
});

test("each layer imports only what docs/architecture.md allows", () => {
  const leaves = ["clock", "log", "metrics", "version", "tls"];
  const allowed: Record<string, string[]> = {
    protocol: [],
    rules: ["protocol"],
    workers: ["protocol"],
    store: ["protocol", "rules", ...leaves],
    background: ["store", ...leaves],
    broker: ["protocol", "rules", "store", "workers", ...leaves],
    net: ["protocol", "rules", "broker", "workers", ...leaves],
    http: ["protocol", "rules", "broker", "workers", "config", ...leaves],
    client: ["protocol"],
  };
  for (const [layer, ok] of Object.entries(allowed)) {
    const extra = uses(layer).filter((to) => !ok.includes(to));
    expect({ layer, extra }).toEqual({ layer, extra: [] });
  }
});

test("nothing imports the command line, and the front doors import nothing from store/", () => {
  for (const [from, tos] of imports) if (from !== "cli") expect({ from, cli: tos.has("cli") }).toEqual({ from, cli: false });
  expect(uses("net")).not.toContain("store");
  expect(uses("http")).not.toContain("store");
});
