// What a store shared by several brokers adds to the Store contract: which broker each worker
// last spoke to, so that the broker a worker left does not declare it dead while it works through
// another, and an operator's command for a worker reaches the broker serving it. Optional: a store
// of one broker (SQLite) has no such record and needs none (a worker not here is nowhere).

import type { WorkerCommand } from "../protocol/wire-values.ts";

export interface WorkerPresence {
  /** The worker spoke to this broker at `nowMs` (register, heartbeat, claim). Cheap: written in batches. */
  workerSeen(workerId: string, nowMs: number): void;
  /**
   * True when the worker spoke to another broker at or after `sinceMs`: it lives there now, so
   * this broker forgets it instead of taking its tasks back. A failed read answers false (the
   * tasks are taken back, as on one broker: at-least-once either way).
   */
  workerSeenElsewhere(workerId: string, sinceMs: number): Promise<boolean>;
  /** The worker deregistered from this broker: its record goes. */
  workerGone(workerId: string): void;
  /**
   * An operator's command for a worker this broker does not hold: sent to the broker that last
   * saw it, if another broker saw it at or after `seenSinceMs`, which applies it on receipt (the
   * store's `workerCommand` event there). Answers that broker's node id, or null when no other
   * broker has seen the worker since (nothing sent). Fire and forget: a broker that is not
   * listening at that moment misses it. A failed read or send throws StorageUnavailable.
   */
  forwardWorkerCommand(workerId: string, command: Exclude<WorkerCommand, "none">, seenSinceMs: number): Promise<string | null>;
}
