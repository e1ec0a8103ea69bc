// `tq-broker cancel ID`: cancel a pending, scheduled, failed or running task; the Client does the work.

import { taskIdCommand } from "./client-command.ts";

export const cancelCommand = taskIdCommand({
  name: "cancel",
  summary: "cancel a pending, scheduled, failed or running task",
  description: `Cancels task ID: pending, scheduled, failed and awaiting a retry, or running. A running
task's lease ends at once and its worker is told to stop (its result is refused). A task that
already finished cannot be cancelled (InvalidStateError, exit 1). Prints the cancelled task.`,
  call: (client, id) => client.cancel(id),
});
