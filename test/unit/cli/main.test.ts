// The CLI dispatcher in-process: exit codes for each outcome, help and version output, and
// config check/print. Serve, which needs signals, is tested as a subprocess in serve.test.ts.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import type { CliContext } from "../../../src/cli/command.ts";
import { COMMANDS } from "../../../src/cli/commands.ts";
import { EXIT } from "../../../src/cli/exit-codes.ts";
import { main } from "../../../src/cli/main.ts";
import { DEFAULT_CONFIG } from "../../../src/config/index.ts";

const dir = mkdtempSync(join(tmpdir(), "tq-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SHIPPED = resolve(import.meta.dir, "../../../config/broker.yaml");

async function cli(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = { env, out: (t) => out.push(t), err: (t) => err.push(t), commands: COMMANDS };
  const code = await main(argv, ctx);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("exit codes", () => {
  test("the table", () => {
    expect(EXIT).toEqual({ ok: 0, failure: 1, usage: 64, corruptData: 65, waitTimeout: 75, config: 78 });
  });

  test("no command: the overview on stderr, 64", async () => {
    const r = await cli([]);
    expect(r.code).toBe(64);
    expect(r.err).toContain("usage: tq-broker <command>");
  });

  test("unknown command: 64 with a hint", async () => {
    const r = await cli(["srve"]);
    expect(r.code).toBe(64);
    expect(r.err).toBe("tq-broker: unknown command \"srve\"\nRun 'tq-broker help' for the list of commands.");
  });

  test("unknown option: 64 naming the command", async () => {
    const r = await cli(["serve", "--prot", "1"]);
    expect(r.code).toBe(64);
    expect(r.err).toBe("tq-broker serve: unknown option --prot (options: --config, --port, --data-dir, --accept-data-loss)\nRun 'tq-broker serve --help' for usage.");
  });

  test("config error: 78 with every problem indented", async () => {
    const bad = file("bad.yaml", "broker:\n  port: abc\n  prot: 1\n");
    const r = await cli(["config", "check", bad]);
    expect(r.code).toBe(78);
    expect(r.err).toBe(
      `tq-broker: invalid configuration (2 problems):\n  broker.port: expected an integer 0-65535, got "abc" (${bad} line 2)\n  broker.prot: unknown key (did you mean broker.port?) (${bad} line 3)`,
    );
  });

  test("serve with a bad flag value: 78 before anything starts", async () => {
    const r = await cli(["serve", "--port", "99999", "--data-dir", join(dir, "never")]);
    expect(r.code).toBe(78);
    expect(r.err).toContain("broker.port: expected an integer 0-65535, got 99999 (from the command line)");
  });

  test("serve with raft enabled: 78 and a clear message", async () => {
    const r = await cli(["serve", "--data-dir", join(dir, "never")], { TQ_RAFT_ENABLED: "true", TQ_RAFT_NODE_ID: "n1" });
    expect(r.code).toBe(78);
    expect(r.err).toContain("raft.enabled: tq-broker has no Raft mode; set raft.enabled to false. For several brokers, use one PostgreSQL database (persistence.backend: postgres, persistence.postgres.url; raft.node_id names each broker); the other raft keys are accepted and ignored (from TQ_RAFT_ENABLED)");
  });
});

describe("help", () => {
  test("--help and help list every command and the exit codes", async () => {
    for (const argv of [["--help"], ["help"]]) {
      const r = await cli(argv);
      expect(r.code).toBe(0);
      for (const c of COMMANDS) {
        if (c.hidden) expect(r.out).not.toContain(`  ${c.name} `);
        else expect(r.out).toContain(`  ${c.name}`);
      }
      expect(r.out).toContain("65  corrupt database");
      expect(r.out).toContain("78  configuration error");
    }
  });

  test("every command answers --help with 0 and its usage", async () => {
    for (const c of COMMANDS) {
      const r = await cli([c.name, "--help"]);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`tq-broker ${c.name}`);
    }
    expect((await cli(["help", "serve"])).out).toContain("usage: tq-broker serve");
    expect((await cli(["help", "nope"])).code).toBe(64);
  });
});

describe("version", () => {
  test("text and --json agree, version from package.json when run from source", async () => {
    const pkg = (await Bun.file(resolve(import.meta.dir, "../../../package.json")).json()) as { version: string };
    const text = await cli(["version"]);
    expect(text.code).toBe(0);
    expect(text.out).toStartWith(`tq-broker ${pkg.version} (source,`);
    const json = JSON.parse((await cli(["version", "--json"])).out) as Record<string, unknown>;
    expect(json).toMatchObject({ name: "tq-broker", version: pkg.version, build: "source", bun: Bun.version });
    expect((await cli(["--version"])).out).toBe(text.out);
  });
});

describe("config", () => {
  test("check: the shipped file is ok", async () => {
    const r = await cli(["config", "check", SHIPPED]);
    expect(r).toEqual({ code: 0, out: `${SHIPPED}: ok`, err: "" });
  });

  test("check ignores env unless --env", async () => {
    expect((await cli(["config", "check", SHIPPED], { TQ_BROKER_PORT: "x" })).code).toBe(0);
    expect((await cli(["config", "check", "--env", SHIPPED], { TQ_BROKER_PORT: "x" })).code).toBe(78);
  });

  test("check without a file is a usage error; a missing file is a config error", async () => {
    expect((await cli(["config", "check"])).code).toBe(64);
    expect((await cli(["config"])).code).toBe(64);
    expect((await cli(["config", "frobnicate"])).code).toBe(64);
    const missing = await cli(["config", "check", join(dir, "absent.yaml")]);
    expect(missing.code).toBe(78);
    expect(missing.err).toContain(`config file ${join(dir, "absent.yaml")}: cannot read it (no such file)`);
  });

  test("print: effective config after env, secrets masked, as YAML or JSON", async () => {
    const secret = "super-secret-key-123";
    const f = file("keys.yaml", `auth:\n  enabled: true\n  api_keys:\n    - { name: a, role: admin, key: ${secret} }\n`);
    const r = await cli(["config", "print", "--config", f], { TQ_BROKER_PORT: "7000" });
    expect(r.code).toBe(0);
    expect(r.out).not.toContain(secret);
    const printed = parse(r.out) as typeof DEFAULT_CONFIG;
    expect(printed.broker.port).toBe(7000);
    expect(printed.auth.api_keys).toEqual([{ name: "a", role: "admin", key: "***" }]);
    const asJson = JSON.parse((await cli(["config", "print", "--json"])).out) as unknown;
    expect(asJson).toEqual(JSON.parse(JSON.stringify(DEFAULT_CONFIG)));
  });

  test("print: the PostgreSQL URL's password masked, set through TQ_PERSISTENCE_POSTGRES_URL", async () => {
    const r = await cli(["config", "print"], { TQ_PERSISTENCE_BACKEND: "postgres", TQ_PERSISTENCE_POSTGRES_URL: "postgres://tq:hunter2-pw@db:5432/tq" });
    expect(r.code).toBe(0);
    expect(r.out).not.toContain("hunter2");
    const printed = parse(r.out) as typeof DEFAULT_CONFIG;
    expect(printed.persistence.backend).toBe("postgres");
    expect(printed.persistence.postgres.url).toBe("postgres://tq:***@db:5432/tq");
  });

  test("print --defaults is the shipped broker.yaml", async () => {
    const r = await cli(["config", "print", "--defaults"]);
    expect(`${r.out}\n`).toBe(await Bun.file(SHIPPED).text());
  });
});

describe("corrupt database", () => {
  test("serve refuses a data dir whose database is not SQLite: 65, naming the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tq-corrupt-"));
    writeFileSync(join(dir, "tq.db"), "not a database ".repeat(100));
    const r = await cli(["serve", "--port", "0", "--data-dir", dir], { TQ_API_REST_PORT: "0", TQ_MONITORING_PROMETHEUS_PORT: "0" });
    expect(r.code).toBe(65);
    expect(r.err).toContain(join(dir, "tq.db"));
    expect(r.err).toContain("corrupt");
  });
});
