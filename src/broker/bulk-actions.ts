// An operator's action on every task a filter matches (retry all dead of a queue, delete dead
// older than an hour, cancel all pending of a type, purge a queue): counted first, then done a page
// at a time through the broker's own one-task commands, so every rule holds as for one task. Each
// call does a bounded amount of work and says whether more is left; callers call again.

import { BrokerError, ErrorCode } from "../protocol/errors.ts";
import { OPERATOR_MOVES } from "../rules/transitions.ts";
import type { Task, TaskStatus } from "../rules/task.ts";
import type { ListPage, ListQuery, TaskFilter } from "../store/store.ts";

export const BULK_ACTIONS = ["retry", "cancel", "delete"] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];

/** Most tasks one bulk call acts on (a call takes about a second per 10,000 on a small machine). */
export const MAX_BULK_PER_CALL = 10_000;
/** Tasks acted on at once: they share group commits, and one page is read ahead of them. */
const BULK_PAGE = 500;

/** What a bulk call did. */
export interface BulkOutcome {
  action: BulkAction;
  /** Tasks matching the filter before this call. */
  matched: number;
  /** Tasks this call changed. */
  changed: number;
  /** Matching tasks that changed status meanwhile and were left alone (e.g. already re-run). */
  skipped: number;
  /** No matching task is left for this action. */
  done: boolean;
}

/** What bulk actions need of the broker: its list and count, and its one-task commands. */
export interface BulkSource {
  list(query: ListQuery): Promise<ListPage>;
  count(filter: TaskFilter): Promise<number>;
  retry(id: string): Promise<Task>;
  cancel(id: string): Promise<Task>;
  delete(id: string): Promise<Task>;
}

/** What an action does to a task, in words (messages name it). */
const PAST: Readonly<Record<BulkAction, string>> = { retry: "re-run", cancel: "cancelled", delete: "deleted" };

/** The statuses `action` works on: a filter on any other status matches nothing to act on. */
export function actionStatuses(action: BulkAction): readonly TaskStatus[] {
  return action === "retry" ? OPERATOR_MOVES.rerun.from : action === "cancel" ? OPERATOR_MOVES.cancel.from : OPERATOR_MOVES.delete.from;
}

/**
 * A bulk action needs a status: "every task" is never what one click should mean, and the status
 * must be one the action applies to.
 */
export function checkBulkFilter(action: BulkAction, filter: TaskFilter): void {
  if (filter.status === undefined) {
    throw new BrokerError(ErrorCode.InvalidField, `status: a bulk ${action} needs a status (one of ${actionStatuses(action).join(", ")})`, { field: "status" });
  }
  if (!actionStatuses(action).includes(filter.status)) {
    throw new BrokerError(ErrorCode.InvalidField, `status: ${filter.status} tasks cannot be ${PAST[action]}; ${action} takes ${actionStatuses(action).join(", ")}`, {
      field: "status",
    });
  }
  if (filter.idempotencyKey !== undefined) throw new BrokerError(ErrorCode.InvalidField, "idempotency_key: act on one task by its id instead", { field: "idempotency_key" });
}

/** How many tasks a bulk action would touch now. */
export function countBulk(source: BulkSource, action: BulkAction, filter: TaskFilter): Promise<number> {
  checkBulkFilter(action, filter);
  return source.count(filter);
}

/** Acts on up to `max` matching tasks, oldest first, a page at a time. */
export async function runBulk(source: BulkSource, action: BulkAction, filter: TaskFilter, max = MAX_BULK_PER_CALL): Promise<BulkOutcome> {
  checkBulkFilter(action, filter);
  const limit = Math.max(1, Math.min(MAX_BULK_PER_CALL, Math.floor(max)));
  const matched = await source.count(filter);
  const act = (id: string): Promise<Task> => (action === "retry" ? source.retry(id) : action === "cancel" ? source.cancel(id) : source.delete(id));
  let changed = 0;
  let skipped = 0;
  let cursor: string | undefined;
  let exhausted = false;
  while (changed + skipped < limit) {
    const page = await source.list({ ...filter, limit: Math.min(BULK_PAGE, limit - changed - skipped), ...(cursor === undefined ? {} : { cursor }) });
    const results = await Promise.allSettled(page.tasks.map((t) => act(t.id)));
    for (const r of results) {
      if (r.status === "fulfilled") changed++;
      else if (isGoneOrMoved(r.reason)) skipped++;
      else throw r.reason;
    }
    if (page.nextCursor === null) {
      exhausted = true;
      break;
    }
    cursor = page.nextCursor;
  }
  return { action, matched, changed, skipped, done: exhausted };
}

/** A task that changed status or went away between the list and the action: left alone. */
function isGoneOrMoved(err: unknown): boolean {
  return err instanceof BrokerError && (err.code === ErrorCode.InvalidState || err.code === ErrorCode.NotFound);
}
