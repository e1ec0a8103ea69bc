// `tq-broker status ID`: show one task: status, attempts, result or error; the Client does the work.

import { taskIdCommand } from "./client-command.ts";

export const statusCommand = taskIdCommand({
  name: "status",
  summary: "show one task: status, attempts, result or error",
  description: `Prints the task with id ID: its status, attempts, times, payload, and its result or last error.
Exit 1 with NotFoundError if there is no such task.`,
  call: (client, id) => client.status(id),
});
