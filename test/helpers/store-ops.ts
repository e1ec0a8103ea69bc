// Store calls as tests write them: a claim without a byte budget of its own (the broker's largest
// reply), and one completion or failure through report() with its item's error thrown. Test-only.

import { MAX_REPLY_TASK_BYTES } from "../../src/protocol/limits.ts";
import type { CompletedInfo, FailureIn, FailureOutcome, Lease, LeaseRef, TaskResultIn } from "../../src/rules/task.ts";
import type { ClaimRequest, ListPage, ListRequest, Store } from "../../src/store/store.ts";

export function claim(store: Store, request: Omit<ClaimRequest, "maxDataBytes"> & { maxDataBytes?: number }): Promise<Lease[]> {
  return store.claim({ maxDataBytes: MAX_REPLY_TASK_BYTES, ...request });
}

export async function complete(store: Store, lease: LeaseRef, result: TaskResultIn, nowMs: number): Promise<CompletedInfo> {
  const [r] = await store.report([{ lease: { id: lease.id, token: lease.token }, completed: result }], nowMs);
  if (!r!.ok) throw r!.error;
  if (!("completed" in r!)) throw new Error("a completion came back as a failure");
  return r.completed;
}

export async function fail(store: Store, lease: LeaseRef, failure: FailureIn, nowMs: number): Promise<FailureOutcome> {
  const [r] = await store.report([{ lease: { id: lease.id, token: lease.token }, failed: failure }], nowMs);
  if (!r!.ok) throw r!.error;
  if (!("failed" in r!)) throw new Error("a failure came back as a completion");
  return r.failed;
}

export function list(store: Store, query: Omit<ListRequest, "maxDataBytes"> & { maxDataBytes?: number }): Promise<ListPage> {
  return store.list({ maxDataBytes: MAX_REPLY_TASK_BYTES, ...query });
}
