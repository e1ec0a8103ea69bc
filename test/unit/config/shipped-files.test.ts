// The shipped config/broker.yaml and the key table in docs/configuration.md match the schema.

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse } from "yaml";
import { renderConfigTable, renderDefaultYaml } from "../../../src/config/config-docs.ts";
import { CONFIG_KEYS, DEFAULT_CONFIG, loadConfig } from "../../../src/config/index.ts";

const ROOT = resolve(import.meta.dir, "../../..");
const SHIPPED_YAML = resolve(ROOT, "config/broker.yaml");

describe("shipped files", () => {
  test("config/broker.yaml loads to exactly DEFAULT_CONFIG", () => {
    expect(loadConfig({ file: SHIPPED_YAML, env: {} })).toEqual(DEFAULT_CONFIG);
  });

  test("config/broker.yaml sets every key explicitly, each with a comment above it", () => {
    const text = readFileSync(SHIPPED_YAML, "utf8");
    const parsed = parse(text) as Record<string, Record<string, unknown>>;
    const lines = text.split("\n");
    for (const k of CONFIG_KEYS) {
      // persistence.postgres.url is key "postgres.url" of section persistence, one level deeper.
      const names = k.key.split(".");
      const leaf = names[names.length - 1]!;
      const indent = "  ".repeat(names.length);
      let value: unknown = parsed[k.section];
      for (const name of names) value = (value as Record<string, unknown> | undefined)?.[name];
      expect(value).toEqual(k.defaultValue);
      const at = lines.indexOf(`${indent}${leaf}: ${JSON.stringify(k.defaultValue)}`, lines.indexOf(`${k.section}:`));
      expect(at).toBeGreaterThan(0);
      expect(lines[at - 1]).toBe(`${indent}# ${k.meta.description}`);
    }
  });

  test("config/broker.yaml is what the schema renders (run `bun run build.ts --docs` if this fails)", () => {
    expect(readFileSync(SHIPPED_YAML, "utf8")).toBe(renderDefaultYaml());
  });

  test("docs/configuration.md holds the current key table (run `bun run build.ts --docs` if this fails)", () => {
    const doc = readFileSync(resolve(ROOT, "docs/configuration.md"), "utf8");
    expect(doc).toContain(renderConfigTable());
    for (const k of CONFIG_KEYS) expect(doc).toContain(`| \`${k.path}\` | \`${k.envVar}\` |`);
  });
});
