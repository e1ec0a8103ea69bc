// `tq-broker cancel ID`: cancel a pending, scheduled or failed task; the Client does the work.

import { taskIdCommand } from "./client-command.ts";

export const cancelCommand = taskIdCommand({
  name: "cancel",
  summary: "cancel a pending, scheduled or failed task",
  description: `Cancels task ID if it has not started: pending, scheduled, or failed and awaiting a retry.
A running task cannot be cancelled (InvalidStateError, exit 1). Prints the cancelled task.`,
  call: (client, id) => client.cancel(id),
});
