// The small enumerations that travel as one u8 on the wire: task status, result outcome, the
// command a heartbeat reply gives a worker. The byte is the index in the list; never reorder,
// only append. Pure: protocol/ must not import store code, so the status list is a copy that a
// unit test keeps equal to store.ts TASK_STATUSES.

export const WIRE_TASK_STATUSES = ["pending", "scheduled", "in_progress", "completed", "failed", "dead", "cancelled"] as const;
export type WireTaskStatus = (typeof WIRE_TASK_STATUSES)[number];

/** How a worker reports a run ended: completed, failed (retry if retries remain), or failed with no retry. */
export const TASK_OUTCOMES = ["completed", "failed", "unrecoverable"] as const;
export type TaskOutcome = (typeof TASK_OUTCOMES)[number];

/** What a heartbeat reply tells a worker: carry on, stop claiming (rolling deploy), or finish and exit. */
export const WORKER_COMMANDS = ["none", "quiet", "shutdown"] as const;
export type WorkerCommand = (typeof WORKER_COMMANDS)[number];

/** Failure outcomes as FailOutcome carries them: a u8 index into WIRE_TASK_STATUSES, limited to these two. */
export const FAIL_STATUSES = ["failed", "dead"] as const;
export type FailStatus = (typeof FAIL_STATUSES)[number];

/** The tag byte of each ResultBatchOutcome entry: what became of that item. */
export const RESULT_ENTRY_KINDS = ["ok", "fail", "error"] as const;
export type ResultEntryKind = (typeof RESULT_ENTRY_KINDS)[number];

function indexTable<T extends string>(list: readonly T[]): Readonly<Record<T, number>> {
  const table = {} as Record<T, number>;
  list.forEach((name, i) => {
    table[name] = i;
  });
  return table;
}

/** name -> wire byte, for encoders. */
export const TASK_STATUS_BYTE = indexTable(WIRE_TASK_STATUSES);
export const TASK_OUTCOME_BYTE = indexTable(TASK_OUTCOMES);
export const WORKER_COMMAND_BYTE = indexTable(WORKER_COMMANDS);
export const RESULT_ENTRY_BYTE = indexTable(RESULT_ENTRY_KINDS);
