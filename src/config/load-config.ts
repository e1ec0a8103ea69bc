// loadConfig: merges defaults < YAML file < TQ_* environment < command-line flags, validates the
// result against the schema and reports every problem at once with its key path and source.
// Reads only the file it is given and the env object it is passed; never process.env itself.

import { readFileSync } from "node:fs";
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node as YamlNode } from "yaml";
import type { z } from "zod";
import { ConfigError, type ConfigProblem } from "./config-error.ts";
import { didYouMean } from "./did-you-mean.ts";
import { checkConfigRules } from "./config-rules.ts";
import { maskUrlPassword } from "./mask-secrets.ts";
import { CONFIG_KEYS, ConfigSchema, SECTION_NAMES, keyInfo, type Config } from "./schema.ts";

export interface LoadConfigOptions {
  /** YAML file; absent = defaults, env and flags only. */
  file?: string | undefined;
  /** Usually process.env; only TQ_<SECTION>_<KEY> names are read. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Dotted key path -> value from the command line; strings are parsed like env values. */
  flags?: Readonly<Record<string, unknown>>;
}

type Segment = string | number;
type Raw = Record<string, unknown>;

const ENV_PREFIX = "TQ_";

export function loadConfig(options: LoadConfigOptions = {}): Config {
  return loadConfigWithSources(options).config;
}

/** A loaded config and where each key set by a file, env var or flag came from. */
export interface LoadedConfig {
  config: Config;
  /** Key path -> "FILE line N" / "from TQ_..." / "from the command line"; keys left at their default are absent. */
  sources: ReadonlyMap<string, string>;
}

/** loadConfig, also telling which keys were set rather than defaulted. */
export function loadConfigWithSources(options: LoadConfigOptions = {}): LoadedConfig {
  const problems: ConfigProblem[] = [];
  /** Where each value came from, by key path, so errors can point at the line or the variable. */
  const sources = new Map<string, string>();
  let raw: Raw = {};

  if (options.file !== undefined) {
    const fromFile = readConfigFile(options.file, problems, sources);
    if (fromFile !== undefined) raw = fromFile;
  }
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) continue;
    const target = envTarget(name);
    if (target === undefined) continue;
    applyOverride(raw, target.section, target.key, value, `from ${name}`, sources);
  }
  for (const [path, value] of Object.entries(options.flags ?? {})) {
    if (value === undefined) continue;
    const dot = path.indexOf(".");
    applyOverride(raw, path.slice(0, dot), path.slice(dot + 1), value, "from the command line", sources);
  }

  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(...problemsOf(issue, raw, sources));
  }
  if (parsed.success) {
    for (const p of checkConfigRules(parsed.data)) problems.push(withSource(p, sources));
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return { config: parsed.data, sources };
}

function readConfigFile(file: string, problems: ConfigProblem[], sources: Map<string, string>): Raw | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : code === "EACCES" ? "permission denied" : String(err);
    problems.push({ path: "", message: `config file ${file}: cannot read it (${why})` });
    return undefined;
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const pos = e.linePos?.[0];
      const what = (e.message.split("\n")[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, "");
      const where = pos === undefined ? "" : ` line ${pos.line}, column ${pos.col}`;
      problems.push({ path: "", message: `config file ${file}${where}: not valid YAML: ${what}` });
    }
    return undefined;
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // The yaml library refuses an alias that expands past maxAliasCount nodes ("billion laughs").
    problems.push(aliasBombProblem(doc, file, lines, err));
    return undefined;
  }
  if (value === null || value === undefined) return {};
  if (!isPlainObject(value)) {
    problems.push({ path: "", message: `config file ${file}: expected a mapping of sections (broker:, persistence:, ...), got ${render(value)}` });
    return undefined;
  }
  // A section whose keys are all commented out parses as null; it means "all defaults".
  for (const [key, inner] of Object.entries(value)) if (inner === null) value[key] = {};
  if (doc.contents !== null) recordLines(doc.contents, [], file, lines, sources);
  return value;
}

/**
 * Most nodes one alias may expand to. A config file has no use for more; a "billion laughs"
 * document would otherwise take gigabytes and minutes to expand.
 */
const MAX_ALIAS_COUNT = 100;

/** Names the first alias (its key path and line) of a document whose aliases expand too much. */
function aliasBombProblem(doc: Document, file: string, lines: LineCounter, err: unknown): ConfigProblem {
  let found: { path: string; line: number; source: string } | undefined;
  visit(doc, {
    Alias(_key, node, ancestors) {
      const at: Segment[] = [];
      for (const a of ancestors) if (isPair(a) && isScalar(a.key)) at.push(String(a.key.value));
      const offset = node.range?.[0];
      found = { path: formatPath(at), line: offset === undefined ? 0 : lines.linePos(offset).line, source: node.source };
      return visit.BREAK;
    },
  });
  const why = err instanceof Error ? err.message : String(err);
  if (found === undefined) return { path: "", message: `config file ${file}: ${why}` };
  return {
    path: found.path,
    message:
      `YAML aliases expand to too many nodes (over ${MAX_ALIAS_COUNT} per alias use: a "billion laughs" document?); ` +
      `the first alias is *${found.source} here; write the values out (${file} line ${found.line})`,
  };
}

/** Notes the line of every key in the file, so a bad value is reported as "(file line N)". */
function recordLines(node: YamlNode, at: Segment[], file: string, lines: LineCounter, sources: Map<string, string>): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const keyNode = pair.key;
      const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      const path = [...at, key];
      const offset = isScalar(keyNode) ? keyNode.range?.[0] : undefined;
      if (offset !== undefined) sources.set(formatPath(path), `${file} line ${lines.linePos(offset).line}`);
      if (pair.value !== null && typeof pair.value === "object") recordLines(pair.value as YamlNode, path, file, lines, sources);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const path = [...at, i];
      const offset = (item as YamlNode | null)?.range?.[0];
      if (offset !== undefined) sources.set(formatPath(path), `${file} line ${lines.linePos(offset).line}`);
      if (item !== null && typeof item === "object") recordLines(item as YamlNode, path, file, lines, sources);
    });
  }
}

/**
 * TQ_BROKER_MAX_CONNECTIONS -> broker / max_connections; TQ_PERSISTENCE_POSTGRES_URL ->
 * persistence / postgres.url. Names of no known section are not ours; an unknown key of a known
 * section is passed on, to be reported as unknown.
 */
function envTarget(name: string): { section: string; key: string } | undefined {
  if (!name.startsWith(ENV_PREFIX)) return undefined;
  const known = CONFIG_KEYS.find((k) => k.envVar === name);
  if (known !== undefined) return { section: known.section, key: known.key };
  const rest = name.slice(ENV_PREFIX.length);
  for (const section of SECTION_NAMES) {
    const prefix = `${section.toUpperCase()}_`;
    if (rest.startsWith(prefix) && rest.length > prefix.length) {
      return { section, key: rest.slice(prefix.length).toLowerCase() };
    }
  }
  return undefined;
}

/** Sets `key` of `section` ("postgres.url" names a key of a subsection). */
function applyOverride(raw: Raw, section: string, key: string, value: unknown, source: string, sources: Map<string, string>): void {
  let target: Raw = raw;
  const names = [section, ...key.split(".")];
  const leaf = names.pop()!;
  for (const name of names) {
    const current = target[name];
    // A section the file set to a non-mapping is already reported; an override cannot repair it.
    if (current !== undefined && !isPlainObject(current)) return;
    const next: Raw = current ?? {};
    target[name] = next;
    target = next;
  }
  target[leaf] = typeof value === "string" ? parseText(value, `${section}.${key}`) : value;
  sources.set(`${section}.${key}`, source);
}

/**
 * Env and flag values are text: parse them by the type of the key's default, and leave text that
 * does not parse as it is so validation reports it as `got "abc"`.
 */
export function parseText(text: string, path: string): unknown {
  const info = keyInfo(path);
  if (info === undefined) return text;
  const fallback = info.defaultValue;
  const trimmed = text.trim();
  if (typeof fallback === "number") {
    return /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(trimmed) ? Number(trimmed) : text;
  }
  if (typeof fallback === "boolean") {
    const lower = trimmed.toLowerCase();
    if (lower === "true" || lower === "1") return true;
    if (lower === "false" || lower === "0") return false;
    return text;
  }
  if (Array.isArray(fallback)) {
    if (trimmed.startsWith("[")) {
      try {
        return JSON.parse(trimmed) as unknown;
      } catch {
        return text;
      }
    }
    return trimmed === "" ? [] : trimmed.split(",").map((s) => s.trim()).filter((s) => s !== "");
  }
  return text;
}

function problemsOf(issue: z.core.$ZodIssue, raw: Raw, sources: Map<string, string>): ConfigProblem[] {
  const at = issue.path.filter((s): s is Segment => typeof s !== "symbol");
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => withSource({ path: formatPath([...at, key]), message: unknownKeyMessage(at, key) }, sources));
  }
  if (issue.code === "custom" && issue.params?.echoValue === false) {
    return [withSource({ path: formatPath(at), message: `expected ${issue.message}` }, sources)];
  }
  const value = valueAt(raw, at);
  const got =
    isSecretPath(at) && typeof value === "string"
      ? `a hidden value of ${value.length} characters`
      : isUrlPath(at) && typeof value === "string"
        ? render(maskUrlPassword(value))
        : render(maskRaw(value, at));
  return [withSource({ path: formatPath(at), message: `expected ${issue.message}, got ${got}` }, sources)];
}

function unknownKeyMessage(at: Segment[], key: string): string {
  const siblings = knownKeysAt(at);
  const near = didYouMean(key, siblings);
  if (near !== undefined) return `unknown key (did you mean ${formatPath([...at, near])}?)`;
  if (at.length === 1) {
    const elsewhere = CONFIG_KEYS.find((k) => k.key === key);
    if (elsewhere !== undefined) return `unknown key (did you mean ${elsewhere.path}?)`;
  }
  return `unknown key (known keys here: ${siblings.join(", ")})`;
}

function knownKeysAt(at: Segment[]): string[] {
  if (at.length === 0) return [...SECTION_NAMES];
  const prefix = `${formatPath(at)}.`;
  const keys = CONFIG_KEYS.filter((k) => k.path.startsWith(prefix)).map((k) => k.path.slice(prefix.length).split(".")[0]!);
  if (keys.length > 0) return [...new Set(keys)];
  // The only other deeper mappings are auth.api_keys items.
  return ["name", "role", "key", "key_sha256"];
}

function withSource(problem: ConfigProblem, sources: Map<string, string>): ConfigProblem {
  const source = sourceOf(problem.path, sources);
  return source === undefined ? problem : { ...problem, message: `${problem.message} (${source})` };
}

/** The source of the path itself, or of its nearest parent that has one. */
function sourceOf(path: string, sources: Map<string, string>): string | undefined {
  let p = path;
  for (;;) {
    const found = sources.get(p);
    if (found !== undefined || p === "") return found;
    const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
    p = cut <= 0 ? "" : p.slice(0, cut);
  }
}

export function formatPath(path: readonly Segment[]): string {
  let out = "";
  for (const seg of path) out += typeof seg === "number" ? `[${seg}]` : out === "" ? seg : `.${seg}`;
  return out;
}

function valueAt(raw: unknown, path: readonly Segment[]): unknown {
  let cur = raw;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

function isSecretPath(path: readonly Segment[]): boolean {
  const last = path[path.length - 1];
  return path[0] === "auth" && path[1] === "api_keys" && (last === "key" || last === "key_sha256");
}

function isUrlPath(path: readonly Segment[]): boolean {
  return path[0] === "persistence" && path[1] === "postgres" && path[2] === "url";
}

/** Hides key/key_sha256 strings inside a value that is echoed back in an error. */
function maskRaw(value: unknown, at: readonly Segment[]): unknown {
  if (at[0] !== "auth" || value === null || typeof value !== "object") return value;
  const hide = (v: unknown, path: Segment[]): unknown => {
    if (Array.isArray(v)) return v.map((item, i) => hide(item, [...path, i]));
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, inner]) => [k, hide(inner, [...path, k])]));
    }
    return isSecretPath(path) && typeof v === "string" ? "***" : v;
  };
  return hide(value, [...at]);
}

/** A value as it appears after "got": strings quoted, structures as short JSON. */
export function render(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `a list ${clip(JSON.stringify(value))}`;
  if (value !== null && typeof value === "object") return `a mapping ${clip(JSON.stringify(value))}`;
  return String(value);
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function isPlainObject(value: unknown): value is Raw {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
