// ResultBatcher: the results of task runs that finish in the same event-loop turn go to the
// broker as one TaskResultBatch (one TaskResult each to a broker that predates batches), and each
// run gets back its own entry or its own error. No retry and no task semantics here: task-run.ts
// decides what a lost connection or a stale lease means.

import { MAX_ERROR_BYTES, MAX_FRAME_BYTES, MAX_RESULT_BATCH } from "../protocol/limits.ts";
import type { ResultEntry, TaskResultItem } from "../protocol/messages.ts";
import type { Client } from "./client.ts";
import { unexpected } from "./request-channel.ts";
import { UnknownMessageTypeError, errorFromResponse } from "./tq-error.ts";

/** What the broker did with one reported result: "ok" for a completion, FailOutcome's fields for a failure. */
export type ResultSettled = Exclude<ResultEntry, { entry: "error" }>;

interface Queued {
  item: TaskResultItem;
  bytes: number;
  resolve(settled: ResultSettled): void;
  reject(err: unknown): void;
}

/** id, token, outcome, resultIsJson and the two length prefixes of one item. */
const ITEM_FIXED_BYTES = 30;
/** A batch frame stops growing before this: the header, request id and count, and a margin. */
const BATCH_FRAME_BUDGET_BYTES = MAX_FRAME_BYTES - 1024;

/** An upper bound of one item's encoded size (an error text is cut at MAX_ERROR_BYTES on the wire). */
function itemBytes(item: TaskResultItem): number {
  return ITEM_FIXED_BYTES + item.result.byteLength + Math.min(item.error.length * 3, MAX_ERROR_BYTES);
}

export class ResultBatcher {
  private readonly client: Client;
  private queued: Queued[] = [];
  private flushScheduled = false;
  /** Bytes of the results reported and not yet settled (kept in memory until the broker answers). */
  private bytesOut = 0;
  /**
   * Set when the broker answered a batch with UnknownMessageType (it predates TaskResultBatch, and
   * nothing of the batch took effect): results go one TaskResult each until the next connection.
   */
  private oneByOne = false;

  constructor(client: Client) {
    this.client = client;
    client.channel.on("connected", () => {
      this.oneByOne = false;
    });
  }

  /** Bytes (an upper bound) of the results reported and not yet answered. */
  get bytesInFlight(): number {
    return this.bytesOut;
  }

  /**
   * Queues one result for the batch of this turn. Resolves with its entry once the broker has
   * committed it; rejects with that item's own error (LeaseLost, NotFound...) or with the
   * error of the whole request (ConnectionError: the outcome is unknown).
   */
  report(item: TaskResultItem): Promise<ResultSettled> {
    const bytes = itemBytes(item);
    this.bytesOut += bytes;
    return new Promise<ResultSettled>((resolve, reject) => {
      this.queued.push({
        item,
        bytes,
        resolve: (settled) => {
          this.bytesOut -= bytes;
          resolve(settled);
        },
        reject: (err) => {
          this.bytesOut -= bytes;
          reject(err);
        },
      });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      // setImmediate, not a microtask: runs whose handlers resolve in different microtasks of the
      // same turn (one Claimed reply's tasks) still land in one frame.
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const queued = this.queued;
    this.queued = [];
    let batch: Queued[] = [];
    let bytes = 0;
    for (const q of queued) {
      if (batch.length > 0 && (batch.length >= MAX_RESULT_BATCH || bytes + q.bytes > BATCH_FRAME_BUDGET_BYTES)) {
        void this.send(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(q);
      bytes += q.bytes;
    }
    if (batch.length > 0) void this.send(batch);
  }

  private async send(batch: Queued[]): Promise<void> {
    if (this.oneByOne) {
      for (const q of batch) void this.sendOne(q);
      return;
    }
    try {
      const res = await this.client.request({ kind: "TaskResultBatch", results: batch.map((q) => q.item) });
      if (res.kind !== "ResultBatchOutcome" || res.entries.length !== batch.length) throw unexpected("TaskResultBatch", res);
      batch.forEach((q, i) => {
        const e = res.entries[i]!;
        if (e.entry === "error") q.reject(errorFromResponse({ kind: "Error", requestId: res.requestId, ...e }));
        else q.resolve(e);
      });
    } catch (err) {
      if (err instanceof UnknownMessageTypeError) {
        this.oneByOne = true;
        for (const q of batch) void this.sendOne(q);
        return;
      }
      for (const q of batch) q.reject(err);
    }
  }

  private async sendOne(q: Queued): Promise<void> {
    try {
      const res = await this.client.request({ kind: "TaskResult", ...q.item });
      if (res.kind === "Ack") q.resolve({ entry: "ok" });
      else if (res.kind === "FailOutcome") q.resolve({ entry: "fail", status: res.status, retryAtMs: res.retryAtMs, attempts: res.attempts });
      else throw unexpected("TaskResult", res);
    } catch (err) {
      q.reject(err);
    }
  }
}
