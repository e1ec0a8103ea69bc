// `tq-broker completion bash|zsh|fish`: prints a completion script for the shell, generated from
// the command table (completion-scripts.ts). Prints only; installing it is the user's step.

import type { Command } from "./command.ts";
import { bashScript, entriesOf, fishScript, zshScript } from "./completion-scripts.ts";
import { EXIT, UsageError } from "./exit-codes.ts";
import { GLOBAL_FLAGS } from "./global-flags.ts";
import { parseArgs } from "./parse-args.ts";

const SHELLS = { bash: bashScript, zsh: zshScript, fish: fishScript } as const;

export const completionCommand: Command = {
  name: "completion",
  summary: "print a shell completion script (bash, zsh or fish)",
  actions: { bash: {}, zsh: {}, fish: {} },
  help: `usage: tq-broker completion bash|zsh|fish

Prints a script that completes tq-broker's commands, their options and option values in SHELL.
Install it once:

  bash  tq-broker completion bash > ~/.local/share/bash-completion/completions/tq-broker
        (needs the bash-completion package; or add 'source <(tq-broker completion bash)' to ~/.bashrc)
  zsh   mkdir -p ~/.zfunc && tq-broker completion zsh > ~/.zfunc/_tq-broker
        and in ~/.zshrc, before compinit: fpath+=(~/.zfunc)
        (or, after compinit: source <(tq-broker completion zsh))
  fish  tq-broker completion fish > ~/.config/fish/completions/tq-broker.fish

Then open a new shell. Re-run after upgrading tq-broker: the script follows its commands.`,
  async run(argv, ctx) {
    const args = parseArgs(argv, { flags: {}, positionals: ["SHELL"], requiredPositionals: 1 });
    const shell = args.positionals[0]!;
    if (!Object.hasOwn(SHELLS, shell)) throw new UsageError(`unknown shell ${JSON.stringify(shell)} (expected: ${Object.keys(SHELLS).join(", ")})`);
    const script = SHELLS[shell as keyof typeof SHELLS];
    ctx.out(script(entriesOf(ctx.commands, GLOBAL_FLAGS), GLOBAL_FLAGS).trimEnd());
    return EXIT.ok;
  },
};
