// A Jepsen-style history of a queue run (submits, deliveries, completions as invoked then ok /
// failed / unknown, by logical time and broker incarnation) and its checker, which judges process
// crashes (kill -9), not power loss: lost, vanished, unexpected, duplicates, refusals. No I/O.

export type Outcome = "ok" | "failed" | "unknown";

interface SubmitOp {
  key: string;
  invokedAt: number;
  incarnation: number;
  outcome: Outcome | null;
  id: string | null;
  /** The error frame's code when the outcome is failed. */
  errorCode: number | null;
}

interface Delivery {
  key: string;
  id: string;
  token: number;
  /** Logical time the claim was sent. */
  claimInvokedAt: number;
  incarnation: number;
  /** Cluster runs: who held the lease, and when (logical and wall-clock) it was delivered. */
  holder?: HolderLease;
  deliveredAt: number;
  deliveredWallMs: number;
}

/**
 * In a cluster run a lease dies with its holder (a worker process or the broker it spoke to),
 * not with "the" broker: a second delivery is in the window when the first holder was gone
 * before it, or the first lease had run out (`leaseMs` after its claim was sent, as its holder
 * stamped it, less `slackMs`).
 */
export interface HolderLease {
  holder: string;
  claimWallMs: number;
  leaseMs: number;
  slackMs: number;
}

interface CompleteOp {
  id: string;
  token: number;
  invokedAt: number;
  outcome: Outcome | null;
  completedAt: number | null;
  /** The error frame's code when the outcome is failed. */
  errorCode: number | null;
}

/** The final state of one stored task, as ListTasks reports it after the drain. */
export interface FinalTask {
  id: string;
  key: string | null;
  status: string;
}

export interface CheckResult {
  operations: number;
  submitsOk: number;
  submitsUnknown: number;
  submitsFailed: number;
  /** Failed submits by error code ("11": QueueFull, "13": StorageUnavailable, ...). */
  submitFailureCodes: Record<string, number>;
  deliveries: number;
  completionsOk: number;
  /**
   * Acked submits absent at the end with no completion ever acknowledged or left unknown (only a
   * completion lets retention purge a task), or stored but never finished.
   */
  lostSubmits: string[];
  /**
   * Tasks delivered although their submit was never acknowledged, then absent at the end with no
   * completion acknowledged or unknown. A claim hands out only committed rows, and a process crash
   * keeps every committed row, so under kill -9 this is a loss (under power loss it would not be).
   */
  vanished: string[];
  /** Deliveries of tasks whose submit outcome stayed unknown. */
  deliveredUnacked: number;
  /**
   * Of those, deliveries by the incarnation that took the submit: the task was handed out and the
   * broker died before its producer got the reply (with sync full, typically committed, not synced).
   */
  deliveredBeforeSubmitReply: number;
  /** Completions answered with a definite error ("<id> code <n>"): NotFound, LeaseLost, ... */
  refusedCompletions: string[];
  /** Acked completions whose task was found not completed at the end. */
  lostCompletions: string[];
  /** Keys delivered or stored that no producer sent. */
  unexpected: string[];
  /** A delivery while the previous lease of the same task was live and no crash came between. */
  duplicatesBeyondWindow: string[];
  /** A delivery claimed after the task's completion had been acknowledged. */
  deliveredAfterComplete: string[];
  /** Re-deliveries explained by a crash (the at-least-once window): a figure, not a failure. */
  duplicatesInWindow: number;
  /** A submit answered with a definite error whose task exists anyway. */
  falseFailures: string[];
}

/** " (w1 -> w2, 1234 ms after the first claim)" for a cluster run's duplicate, else nothing. */
function holderDetail(previous: Delivery, d: Delivery): string {
  if (previous.holder === undefined) return "";
  return ` (${previous.holder.holder} -> ${d.holder?.holder ?? "?"}, ${d.deliveredWallMs - previous.holder.claimWallMs} ms after the first claim, lease ${previous.holder.leaseMs} ms)`;
}

export class History {
  private time = 0;
  private incarnationNo = 0;
  private readonly submits = new Map<string, SubmitOp>();
  private readonly deliveries: Delivery[] = [];
  private readonly completes: CompleteOp[] = [];
  private readonly ackListeners = new Set<() => void>();
  /** Logical time each holder was killed or lost its broker (cluster runs). */
  private readonly goneAt = new Map<string, number>();
  operations = 0;

  get incarnation(): number {
    return this.incarnationNo;
  }

  /** The broker crashed or was killed: later deliveries may repeat earlier ones. */
  crash(): void {
    this.incarnationNo++;
  }

  /** Called on every ok outcome (a kill trigger counts acknowledgements this way). */
  onAck(listener: () => void): () => void {
    this.ackListeners.add(listener);
    return () => this.ackListeners.delete(listener);
  }

  private acked(): void {
    for (const listener of this.ackListeners) listener();
  }

  submitInvoked(key: string): void {
    if (this.submits.has(key)) throw new Error(`key ${key} submitted twice: the generator must make unique keys`);
    this.operations++;
    this.submits.set(key, { key, invokedAt: ++this.time, incarnation: this.incarnationNo, outcome: null, id: null, errorCode: null });
  }

  submitOk(key: string, id: string): void {
    const op = this.submits.get(key);
    if (!op) throw new Error(`submitOk for unknown key ${key}`);
    op.outcome = "ok";
    op.id = id;
    this.acked();
  }

  /** `errorCode`: the error frame's code, when the broker answered one. */
  submitEnded(key: string, outcome: "failed" | "unknown", errorCode?: number): void {
    const op = this.submits.get(key);
    if (op && op.outcome === null) {
      op.outcome = outcome;
      if (errorCode !== undefined) op.errorCode = errorCode;
    }
  }

  /** Returns the logical time to pass to delivered(). */
  claimInvoked(): number {
    this.operations++;
    return ++this.time;
  }

  /** `deliveredWallMs`: when the claim's reply arrived (default now; a worker process stamps its own). */
  delivered(key: string, id: string, token: number, claimInvokedAt: number, holder?: HolderLease, deliveredWallMs = Date.now()): void {
    this.deliveries.push({ key, id, token, claimInvokedAt, incarnation: this.incarnationNo, deliveredAt: ++this.time, deliveredWallMs, ...(holder === undefined ? {} : { holder }) });
  }

  /** A lease holder died (kill -9 of a worker, or of the broker it was connected to); its first death counts. */
  holderGone(holder: string): void {
    if (!this.goneAt.has(holder)) this.goneAt.set(holder, ++this.time);
  }

  /** Returns a handle for completeEnded. */
  completeInvoked(id: string, token: number): CompleteOp {
    this.operations++;
    const op: CompleteOp = { id, token, invokedAt: ++this.time, outcome: null, completedAt: null, errorCode: null };
    this.completes.push(op);
    return op;
  }

  /** `errorCode`: the error frame's code, when the broker answered one. */
  completeEnded(op: CompleteOp, outcome: Outcome, errorCode?: number): void {
    op.outcome = outcome;
    if (errorCode !== undefined) op.errorCode = errorCode;
    if (outcome === "ok") {
      op.completedAt = ++this.time;
      this.acked();
    }
  }

  /** Acknowledged submits so far. */
  get submitsAcked(): number {
    let n = 0;
    for (const op of this.submits.values()) if (op.outcome === "ok") n++;
    return n;
  }

  get completionsAcked(): number {
    return this.completes.filter((c) => c.outcome === "ok").length;
  }

  /** How many deliveries in `incarnation` got no completion sent: leases its death voided. */
  unfinishedDeliveries(incarnation: number): number {
    return this.unfinishedLeases(incarnation).length;
  }

  /** The deliveries in `incarnation` for which no completion was sent, oldest first. */
  unfinishedLeases(incarnation: number): { key: string; id: string; token: number }[] {
    const sent = new Set(this.completes.map((c) => `${c.id}:${c.token}`));
    return this.deliveries.filter((d) => d.incarnation === incarnation && !sent.has(`${d.id}:${d.token}`)).map(({ key, id, token }) => ({ key, id, token }));
  }

  /** True if the submit of `key` was answered ok. */
  acknowledged(key: string): boolean {
    return this.submits.get(key)?.outcome === "ok";
  }

  /**
   * Single-broker runs: leases outlast the run and worker connections only die with the broker, so
   * only a crash in between explains a second delivery. Cluster runs: the first holder's death or
   * its lease's end (HolderLease).
   */
  private inWindow(previous: Delivery, d: Delivery): boolean {
    if (previous.incarnation !== d.incarnation) return true;
    const lease = previous.holder;
    if (lease === undefined) return false;
    const gone = this.goneAt.get(lease.holder);
    if (gone !== undefined && gone < d.deliveredAt) return true;
    return d.deliveredWallMs - lease.claimWallMs >= lease.leaseMs - lease.slackMs;
  }

  check(finalTasks: readonly FinalTask[]): CheckResult {
    const finalById = new Map(finalTasks.map((t) => [t.id, t]));
    const deliveredKeys = new Set(this.deliveries.map((d) => d.key));
    const completedAt = new Map<string, number>();
    for (const c of this.completes) if (c.outcome === "ok" && c.completedAt !== null && !completedAt.has(c.id)) completedAt.set(c.id, c.completedAt);
    // Only a completion lets retention purge a row, and one left unknown may have committed.
    const mayBeCompleted = new Set(this.completes.filter((c) => c.outcome === "ok" || c.outcome === "unknown").map((c) => c.id));
    const goneUnexplained = (id: string): boolean => !finalById.has(id) && !mayBeCompleted.has(id);

    const lostSubmits: string[] = [];
    const falseFailures: string[] = [];
    const storedKeys = new Set(finalTasks.map((t) => t.key));
    let submitsOk = 0;
    let submitsUnknown = 0;
    let submitsFailed = 0;
    const submitFailureCodes: Record<string, number> = {};
    for (const op of this.submits.values()) {
      if (op.outcome === "ok") {
        submitsOk++;
        const stored = op.id === null ? undefined : finalById.get(op.id);
        // Being delivered once proves only that the row existed then, not that it survived.
        if (op.id === null || goneUnexplained(op.id)) lostSubmits.push(op.key);
        else if (stored && stored.status !== "completed") lostSubmits.push(`${op.key} (left ${stored.status})`);
      } else if (op.outcome === "failed") {
        submitsFailed++;
        const code = String(op.errorCode ?? "?");
        submitFailureCodes[code] = (submitFailureCodes[code] ?? 0) + 1;
        if (deliveredKeys.has(op.key) || storedKeys.has(op.key)) falseFailures.push(op.key);
      } else submitsUnknown++;
    }

    const lostCompletions: string[] = [];
    for (const id of completedAt.keys()) {
      const stored = finalById.get(id);
      if (stored && stored.status !== "completed") lostCompletions.push(`${id} (${stored.status})`);
    }

    const vanished: string[] = [];
    let deliveredUnacked = 0;
    let deliveredBeforeSubmitReply = 0;
    const vanishedIds = new Set<string>();
    for (const d of this.deliveries) {
      const op = this.submits.get(d.key);
      // Acked ones are judged above; a delivered failed submit is a false failure.
      if (op === undefined || op.outcome !== "unknown") continue;
      deliveredUnacked++;
      if (d.incarnation === op.incarnation) deliveredBeforeSubmitReply++;
      if (goneUnexplained(d.id) && !vanishedIds.has(d.id)) {
        vanishedIds.add(d.id);
        vanished.push(`${d.key} (${d.id})`);
      }
    }
    const refusedCompletions = this.completes.filter((c) => c.outcome === "failed").map((c) => `${c.id} code ${c.errorCode ?? "?"}`);

    const unexpected: string[] = [];
    for (const d of this.deliveries) if (!this.submits.has(d.key)) unexpected.push(d.key);
    for (const t of finalTasks) if (t.key === null || !this.submits.has(t.key)) unexpected.push(t.key ?? `id ${t.id}`);

    const duplicatesBeyondWindow: string[] = [];
    const deliveredAfterComplete: string[] = [];
    let duplicatesInWindow = 0;
    const lastDelivery = new Map<string, Delivery>();
    for (const d of this.deliveries) {
      const done = completedAt.get(d.id);
      if (done !== undefined && d.claimInvokedAt > done) deliveredAfterComplete.push(`${d.key} token ${d.token}`);
      const previous = lastDelivery.get(d.id);
      if (previous) {
        if (this.inWindow(previous, d)) duplicatesInWindow++;
        else duplicatesBeyondWindow.push(`${d.key} tokens ${previous.token},${d.token}${holderDetail(previous, d)}`);
      }
      lastDelivery.set(d.id, d);
    }

    return {
      operations: this.operations,
      submitsOk,
      submitsUnknown,
      submitsFailed,
      submitFailureCodes,
      deliveries: this.deliveries.length,
      completionsOk: completedAt.size,
      lostSubmits,
      lostCompletions,
      vanished,
      deliveredUnacked,
      deliveredBeforeSubmitReply,
      refusedCompletions,
      unexpected,
      duplicatesBeyondWindow,
      deliveredAfterComplete,
      duplicatesInWindow,
      falseFailures,
    };
  }
}
