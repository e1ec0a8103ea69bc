// The docs name source files so a newcomer can open them: every file name docs/*.md and README.md
// give in backticks or links (outside code blocks) must exist, as a path from the repository root,
// from src/ or from the page, or, for a bare name, somewhere in the tree.

import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { REPO_ROOT } from "../helpers/cli.ts";

const SOURCE_DIRS = ["src", "test", "bench", "scripts", "examples", "docs", "config"];

function filesUnder(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

const basenames = new Set(SOURCE_DIRS.flatMap(filesUnder).map((f) => basename(f)));
basenames.add("build.ts");

/** File names a page mentions: in `code` spans and (links), outside fenced code blocks. */
function mentionedFiles(text: string): string[] {
  const prose = text.replace(/^```[\s\S]*?^```/gm, "");
  const names: string[] = [];
  for (const m of prose.matchAll(/`([^`\n]+)`|\]\(([^)\s]+)\)/g)) {
    const span = m[1] ?? m[2] ?? "";
    // Patterns and placeholders (`chaos-*.test.ts`, `<name>.ts`) name no one file.
    if (/[*<>]/.test(span)) continue;
    for (const token of span.matchAll(/(?<![\w.-])(?:\.{0,2}\/)?[A-Za-z0-9_][A-Za-z0-9_./-]*\.(?:ts|mjs|md)\b/g)) names.push(token[0]);
  }
  return names;
}

function exists(page: string, name: string): boolean {
  const clean = name.replace(/^\.\//, "");
  const candidates = [join(REPO_ROOT, clean), join(REPO_ROOT, "src", clean), join(dirname(page), name)];
  if (candidates.some((c) => existsSync(c))) return true;
  return !clean.includes("/") && basenames.has(clean);
}

test("every source file the docs name exists", () => {
  const pages = [join(REPO_ROOT, "README.md"), ...readdirSync(join(REPO_ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => join(REPO_ROOT, "docs", f))];
  const missing: string[] = [];
  let checked = 0;
  for (const page of pages) {
    for (const name of mentionedFiles(readFileSync(page, "utf8"))) {
      checked++;
      if (!exists(page, name)) missing.push(`${basename(page)}: ${name}`);
    }
  }
  expect(missing).toEqual([]);
  // The check saw the docs' many file references (not a pattern that matches nothing).
  expect(checked).toBeGreaterThan(100);
});
