// What a claim may ask for: its queues, how many tasks and how long to wait, checked against the
// broker's limits before the broker looks for tasks. No queue state here.

import { BrokerError, ErrorCode } from "../protocol/errors.ts";
import { MAX_CLAIM_WAIT_MS } from "../protocol/limits.ts";
import type { WorkerCaller } from "./broker-types.ts";
import { checkQueueName, DEFAULT_QUEUE } from "./submit-spec.ts";

export interface ClaimCommand {
  workerId: string;
  queues: readonly string[];
  max: number;
  /** 0 answers at once; otherwise wait up to this long for a task. */
  waitMs: number;
  /** Aborted when the asking connection goes away: a parked claim is dropped. */
  signal?: AbortSignal;
  /** The connection claiming: a worker first heard of here is owned by it. */
  caller?: WorkerCaller;
}

/**
 * The claim's queues (the default queue when none is named) and how many tasks it takes: `max`,
 * capped at broker.max_batch_claim — asking for more is not an error, it is "as many as allowed".
 * InvalidField naming what is out of range.
 */
export function checkClaimCommand(command: ClaimCommand, maxBatchClaim: number): { queues: string[]; max: number } {
  const queues = command.queues.length === 0 ? [DEFAULT_QUEUE] : command.queues.map((q) => checkQueueName("queues", q));
  if (!Number.isInteger(command.max) || command.max < 1) {
    throw new BrokerError(ErrorCode.InvalidField, `max: expected an integer >= 1, got ${command.max}`, { field: "max" });
  }
  if (!Number.isInteger(command.waitMs) || command.waitMs < 0 || command.waitMs > MAX_CLAIM_WAIT_MS) {
    throw new BrokerError(ErrorCode.InvalidField, `waitMs: expected an integer 0-${MAX_CLAIM_WAIT_MS}, got ${command.waitMs}`, { field: "waitMs" });
  }
  return { queues, max: Math.min(command.max, maxBatchClaim) };
}
