// The subcommand table: add a command by writing its file and adding one line here.

import type { Command } from "./command.ts";
import { benchAgentCommand } from "./bench-agent-command.ts";
import { benchCommand } from "./bench-command.ts";
import { configCommand } from "./config-command.ts";
import { helpCommand } from "./help-command.ts";
import { serveCommand } from "./serve-command.ts";
import { versionCommand } from "./version-command.ts";

export const COMMANDS: readonly Command[] = [serveCommand, configCommand, versionCommand, helpCommand, benchCommand, benchAgentCommand];
