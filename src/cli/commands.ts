// The subcommand table: add a command by writing its file and adding one line here.

import type { Command } from "./command.ts";
import { benchAgentCommand } from "./bench-agent-command.ts";
import { benchCommand } from "./bench-command.ts";
import { cancelCommand } from "./cancel.ts";
import { completionCommand } from "./completion-command.ts";
import { configCommand } from "./config-command.ts";
import { helpCommand } from "./help-command.ts";
import { migrateCommand } from "./migrate-command.ts";
import { queuesCommand } from "./queues.ts";
import { retryCommand } from "./retry.ts";
import { serveCommand } from "./serve-command.ts";
import { statsCommand } from "./stats.ts";
import { statusCommand } from "./status.ts";
import { submitCommand } from "./submit.ts";
import { tasksCommand } from "./tasks.ts";
import { versionCommand } from "./version-command.ts";
import { workerCommand } from "./worker.ts";
import { workersCommand } from "./workers.ts";

export const COMMANDS: readonly Command[] = [
  serveCommand,
  submitCommand,
  statusCommand,
  cancelCommand,
  retryCommand,
  tasksCommand,
  statsCommand,
  queuesCommand,
  workersCommand,
  workerCommand,
  benchCommand,
  benchAgentCommand,
  configCommand,
  migrateCommand,
  versionCommand,
  completionCommand,
  helpCommand,
];
