// The small enumerations that travel as one u8 on the wire: task status, result outcome, the
// command a heartbeat reply gives a worker. In a list the byte is the index; the worker command
// table names its bytes. Never reorder, only append. Pure: protocol/ imports nothing, so the
// status list is a copy that a unit test keeps equal to rules/task.ts TASK_STATUSES.

export const WIRE_TASK_STATUSES = ["pending", "scheduled", "in_progress", "completed", "failed", "dead", "cancelled"] as const;
export type WireTaskStatus = (typeof WIRE_TASK_STATUSES)[number];

/** How a worker reports a run ended: completed, failed (retry if retries remain), or failed with no retry. */
export const TASK_OUTCOMES = ["completed", "failed", "unrecoverable"] as const;
export type TaskOutcome = (typeof TASK_OUTCOMES)[number];

/**
 * What an operator asks of a worker, name -> wire byte: carry on, stop claiming (rolling deploy),
 * or finish and exit. The one table of worker commands: the worker registry keeps the name,
 * HeartbeatOk and ListWorkers send the byte, the REST API shows the name.
 */
export const WORKER_COMMAND_BYTE = { none: 0, quiet: 1, shutdown: 2 } as const;
export type WorkerCommand = keyof typeof WORKER_COMMAND_BYTE;

/** Failure outcomes as FailOutcome carries them: a u8 index into WIRE_TASK_STATUSES, limited to these two. */
export const FAIL_STATUSES = ["failed", "dead"] as const;
export type FailStatus = (typeof FAIL_STATUSES)[number];

/** The tag byte of each ResultBatchOutcome entry: what became of that item. */
export const RESULT_ENTRY_KINDS = ["ok", "fail", "error"] as const;
export type ResultEntryKind = (typeof RESULT_ENTRY_KINDS)[number];

/** The names of a name -> byte table in byte order, for decoders (the byte is the index; the bytes run 0..n-1). */
function byteOrder<T extends string>(table: Readonly<Record<T, number>>): readonly T[] {
  const names = (Object.keys(table) as T[]).sort((a, b) => table[a] - table[b]);
  names.forEach((name, i) => {
    if (table[name] !== i) throw new Error(`wire table: ${name} is byte ${table[name]}, expected ${i} (bytes must run 0..n-1)`);
  });
  return names;
}

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
export const RESULT_ENTRY_BYTE = indexTable(RESULT_ENTRY_KINDS);

/** byte -> name, for decoders and schema enums. */
export const WORKER_COMMANDS = byteOrder(WORKER_COMMAND_BYTE);
