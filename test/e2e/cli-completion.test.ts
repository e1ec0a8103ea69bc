// `tq-broker completion bash|zsh|fish`: the scripts come from the real CLI, bash accepts and runs
// its script (commands, actions, options and option values complete as the command table says),
// and zsh/fish check theirs when installed (skipped otherwise: the suite installs no shells).

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMMANDS } from "../../src/cli/commands.ts";
import { CLI_ENTRY, runCli, shellQuote } from "../helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "tq-completion-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function script(shell: string): Promise<string> {
  const r = await runCli(["completion", shell], { cwd: dir });
  expect(r.exitCode).toBe(0);
  expect(r.stderr).toBe("");
  return r.stdout;
}

/** Runs `shell` with `args` and returns stdout (exit code checked). */
async function run(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([...args], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir } });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

let bashFile: string | undefined;

/** What bash's completion offers for the words typed so far (the last one being completed). */
async function complete(...words: string[]): Promise<string[]> {
  if (bashFile === undefined) {
    bashFile = join(dir, "tq-broker.bash");
    writeFileSync(bashFile, await script("bash"));
  }
  const array = ["tq-broker", ...words].map(shellQuote).join(" ");
  const r = await run(["bash", "-c", `source ${shellQuote(bashFile)}; COMP_WORDS=(${array}); COMP_CWORD=${words.length}; _tq_broker; printf '%s\\n' "\${COMPREPLY[@]}"`]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout.split("\n").filter((w) => w !== "");
}

const visible = COMMANDS.filter((c) => c.hidden !== true);

describe("bash", () => {
  test("bash -n accepts the script", async () => {
    const file = join(dir, "syntax.bash");
    writeFileSync(file, await script("bash"));
    const r = await run(["bash", "-n", file]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  test("source <(tq-broker completion bash), then tq-broker ta<TAB> gives tasks", async () => {
    const self = [process.execPath, CLI_ENTRY].map(shellQuote).join(" ");
    const r = await run(["bash", "-c", `source <(${self} completion bash); COMP_WORDS=(tq-broker ta); COMP_CWORD=1; _tq_broker; echo "\${COMPREPLY[@]}"`]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("tasks");
  });

  test("the first word: every visible command from the table, no internal one; options with a dash", async () => {
    expect((await complete("")).sort()).toEqual(visible.map((c) => c.name).sort());
    expect(await complete("")).not.toContain("bench-agent");
    expect(await complete("wo")).toEqual(["workers", "worker"]);
    expect(await complete("-")).toEqual(["--help", "--version", "--no-color"]);
    expect(await complete("--no-color", "ser")).toEqual(["serve"]);
  });

  test("a command's options are its flag table's, plus --help and --no-color", async () => {
    for (const command of visible.filter((c) => c.flags !== undefined)) {
      const expected = [...Object.keys(command.flags!).map((f) => `--${f}`), "--help", "--no-color"];
      expect(await complete(command.name, "--")).toEqual(expected);
    }
    expect(await complete("submit", "email.send", "--pri")).toEqual(["--priority"]);
  });

  test("actions and their options: tasks list, config check|print, completion bash|zsh|fish, help COMMAND", async () => {
    expect(await complete("tasks", "")).toEqual(["list", "retry", "cancel", "delete"]);
    expect(await complete("tasks", "list", "--li")).toEqual(["--limit"]);
    expect(await complete("tasks", "--st")).toEqual(["--status"]);
    expect(await complete("config", "")).toEqual(["check", "print"]);
    expect(await complete("config", "check", "--")).toEqual(["--env", "--json", "--help", "--no-color"]);
    expect(await complete("config", "print", "--d")).toEqual(["--defaults"]);
    expect(await complete("completion", "")).toEqual(["bash", "zsh", "fish"]);
    expect(await complete("help", "st")).toEqual(["status", "stats"]);
  });

  test("option values: choices from the table, paths for FILE and DIR, nothing for a free value", async () => {
    expect(await complete("tasks", "list", "--status", "")).toEqual(["pending", "scheduled", "in_progress", "completed", "failed", "dead", "cancelled"]);
    expect(await complete("tasks", "--status", "de")).toEqual(["dead"]);
    expect(await complete("submit", "t", "--priority", "")).toEqual(["high", "normal", "low"]);
    expect(await complete("bench", "--sync", "")).toEqual(["full", "interval"]);
    writeFileSync(join(dir, "broker-conf.yaml"), "");
    expect(await complete("serve", "--config", join(dir, "broker-c"))).toEqual([join(dir, "broker-conf.yaml")]);
    expect(await complete("serve", "--port", "")).toEqual([]);
  });
});

describe("zsh and fish", () => {
  test.skipIf(Bun.which("zsh") === null)("zsh -n accepts the zsh script", async () => {
    const file = join(dir, "_tq-broker");
    writeFileSync(file, await script("zsh"));
    const r = await run(["zsh", "-n", file]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  test.skipIf(Bun.which("fish") === null)("fish -n accepts the fish script", async () => {
    const file = join(dir, "tq-broker.fish");
    writeFileSync(file, await script("fish"));
    const r = await run(["fish", "-n", file]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  test("both name every visible command and its options, from the table", async () => {
    const zsh = await script("zsh");
    const fish = await script("fish");
    expect(zsh.split("\n")[0]).toBe("#compdef tq-broker");
    for (const command of visible) {
      expect(zsh).toContain(`'${command.name}:`);
      expect(fish).toContain(`-n __fish_use_subcommand -a ${command.name} -d `);
      for (const flag of Object.keys(command.flags ?? {})) {
        expect(zsh).toContain(`'--${flag}[`);
        expect(fish).toContain(`'__fish_seen_subcommand_from ${command.name}' -l ${flag}`);
      }
    }
    expect(zsh).not.toContain("bench-agent");
    expect(fish).not.toContain("bench-agent");
  });
});

test("an unknown shell is a usage error naming the shells", async () => {
  const r = await runCli(["completion", "powershell"], { cwd: dir });
  expect(r.exitCode).toBe(64);
  expect(r.stderr).toContain('unknown shell "powershell" (expected: bash, zsh, fish)');
});
