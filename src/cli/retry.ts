// `tq-broker retry ID`: run a dead or cancelled task again; the Client does the work.

import { taskIdCommand } from "./client-command.ts";

export const retryCommand = taskIdCommand({
  name: "retry",
  summary: "run a dead or cancelled task again",
  description: `Puts dead or cancelled task ID back to pending with its attempts reset, to run again.
Other statuses give InvalidStateError (exit 1). Prints the task.`,
  call: (client, id) => client.retry(id),
});
