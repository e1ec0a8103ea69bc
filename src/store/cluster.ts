// What a store shared by several brokers adds to the Store contract: which broker each worker
// last spoke to, so that the broker a worker left does not declare it dead while it works through
// another. Optional: a store of one broker (SQLite) has no such record and needs none.

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
}
