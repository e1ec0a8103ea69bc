// The default Store: tasks in one SQLite file (WAL, group commit), indexes in memory so claims and
// promotions never scan. Every state transition of the Store contract is one method here; the
// broker's validation, defaults and backpressure live above it, not here.

import type { Database } from "bun:sqlite";
import { BrokerError, ErrorCode } from "../../protocol/errors.ts";
import { MAX_REPLY_TASK_BYTES, REPLY_BYTES_PER_TASK } from "../../protocol/limits.ts";
import { listPage, withLease } from "./task-reads.ts";
import { uuidFromString, uuidToString, uuidv7Bytes } from "../../protocol/uuid.ts";
import { DEFAULT_BACKOFF, retryDelayMs, type BackoffPolicy } from "../../queue/backoff.ts";
import type { ReadyEntry } from "../../queue/ready-index.ts";
import type {
  ClaimRequest, CompletedInfo, FailureIn, FailureOutcome, Lease, LeaseRef, ListPage, ListQuery, NewTask, PurgeStep, ReadyListener, ReportItem,
  ReportItemResult, Store, StoreCounts, SubmitOutcome, Task, TaskResultIn, TickOutcome,
} from "../store.ts";
import type { CheckpointResult } from "./checkpointer.ts";
import { GroupCommit, storageUnavailable, type CommitFigures, type FlushOn } from "./group-commit.ts";
import { loadMemory } from "./load-memory.ts";
import { MemoryState, type LeaseState } from "./memory-state.ts";
import { openDatabase } from "./schema.ts";
import { INSERT_BATCH_ROWS, Statements } from "./statements.ts";
import { LeaseTokens } from "./lease-tokens.ts";
import { RetentionWalk } from "./retention-walk.ts";
import { noCheckpoints, WalKeeper, type CheckpointFigures } from "./wal-keeper.ts";
import { WalSync } from "./wal-sync.ts";
import { KILL_POINTS, killPoint } from "./kill-points.ts";
import { readClaimRows, writeCompletions, type Completion } from "./row-batches.ts";
import { claimedTask, FLAG, rowToTask, STATUS, statusName, type ClaimRow, type TaskRow } from "./task-row.ts";

export interface SqliteStoreOptions {
  /** Database file; ":memory:" for tests that need no durability. */
  path: string;
  /**
   * full: a group is acknowledged once an fsync of the WAL covers it (run off the event loop, see
   * wal-sync.ts). interval: at COMMIT; the checkpoint every walSyncIntervalMs fsyncs.
   */
  sync?: "full" | "interval";
  /** Period of the checkpoint timer (and of the fsync, with sync interval), in ms. */
  walSyncIntervalMs?: number;
  /** WAL size past which the checkpoint also truncates the file, in bytes. */
  maxWalBytes?: number;
  /**
   * Inline checkpoints: WAL growth that triggers one right after a commit, in bytes (default 4 MiB),
   * so each checkpoint copies little and holds the event loop briefly.
   */
  checkpointStepBytes?: number;
  backoff?: BackoffPolicy;
  onReady?: ReadyListener;
  /** Told when a new run_at or lease expiry is due at `dueMs` (wire it to Scheduler.poke). */
  onDue?: (dueMs: number) => void;
  /** Told after each group is acknowledged, with the time from its COMMIT to then (metrics). */
  onCommit?: (ops: number, commitMs: number) => void;
  /**
   * The WAL fsync failed: nothing more will be acknowledged (see GroupCommit.onSyncFailed). The
   * owner should log it and exit so that recovery reads what the file really holds.
   */
  onFatal?: (err: unknown) => void;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Jitter source for backoff; injected by tests. */
  random?: () => number;
  flushOn?: FlushOn;
  /**
   * Where checkpoints run: "worker" (default with sync full: a Worker thread with its own
   * connection copies and fsyncs; the main thread only finishes the job once the WAL file is long)
   * or "inline" (default with sync interval: on this thread between groups, every
   * walSyncIntervalMs and after each checkpointStepBytes of WAL growth; there the checkpoint is the
   * WAL's fsync and its period is the promise). See docs/storage.md for the measurements.
   */
  checkpointIn?: "worker" | "inline";
  /** SQLite page cache, in MiB (counts toward RSS). */
  cacheMiB?: number;
  /** Test seam: runs just before each COMMIT; a throw fails the group like a full disk would. */
  beforeCommit?: () => void;
  /** Test seam (sync full): replaces the WAL fdatasync. */
  syncWal?: (done: (err: Error | null) => void) => void;
}

// Heap entries one tick works through per kind: bounds how long a tick holds the event loop (~10 ms).
const MAX_TICK_STEPS = 2000;
// Pending rows loaded at open past which recovery runs a full collection before serving.
const RECOVERY_GC_ROWS = 100_000;
// Checkpoint period with sync full (growth past checkpointStepBytes still triggers one sooner).
const FULL_SYNC_CHECKPOINT_MS = 1000;
// Entries a claim pops in its first round (each later round doubles, up to MANY_ROWS a read).
const CLAIM_FIRST_ROUND = 8;

export type CommitStats = CommitFigures & CheckpointFigures;

export class SqliteStore implements Store {
  private readonly db: Database;
  private readonly stmts: Statements;
  private readonly retention: RetentionWalk;
  private readonly group: GroupCommit;
  private readonly mem = new MemoryState();
  private readonly backoff: BackoffPolicy;
  private readonly random: () => number;
  private readonly readyAfterCommit = new Set<string>();
  /** Queues that got leases handed back (memory only, no commit) since the last announcement. */
  private readonly handedBack = new Set<string>();
  private readonly wal: WalKeeper | null;
  private readonly walPath: string | null;
  private readonly walSync: WalSync | null;
  /** Leases handed out by claims waiting on the open group: void if it fails. */
  private readonly provisionalLeases = new Set<LeaseState>();
  /** Leases the open group's operations ended (complete, fail, expiry): live again if it fails. */
  private endedInGroup: LeaseState[] = [];
  /** Why the last group failed: what a claim that waited on it reports. */
  private lastCommitFailure: unknown = null;
  private readonly tokens: LeaseTokens;
  private closed = false;

  constructor(private readonly options: SqliteStoreOptions) {
    const full = (options.sync ?? "full") === "full";
    this.walPath = options.path === ":memory:" ? null : `${options.path}-wal`;
    // Sync full on a file: SQLite does not fsync inside COMMIT; WalSync does it off the event loop.
    this.walSync = full && this.walPath !== null && options.syncWal === undefined ? new WalSync(this.walPath) : null;
    const syncWal = options.syncWal ?? (this.walSync === null ? undefined : this.walSync.sync.bind(this.walSync));
    this.db = openDatabase(options.path, full && syncWal === undefined ? "full" : "normal", options.cacheMiB ?? 32).db;
    this.stmts = new Statements(this.db);
    this.retention = new RetentionWalk(this.stmts);
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.random = options.random ?? Math.random;
    this.group = new GroupCommit({
      db: this.db,
      flushOn: options.flushOn ?? "immediate",
      beforeCommit: options.beforeCommit,
      commitAtOnce: () => this.readyAfterCommit.size > 0,
      onRolledBack: (err) => this.rebuildAfterFailure(err),
      onCommitted: () => this.committed(),
      onAcknowledged: (ops, ms) => this.notify("onCommit", () => this.options.onCommit?.(ops, ms)),
      sync: full ? syncWal : undefined,
      onSyncFailed: (err) => {
        this.options.log?.("fsync of the WAL failed; nothing more will be acknowledged", { error: String(err) });
        this.notify("onFatal", () => this.options.onFatal?.(err));
      },
    });
    this.tokens = new LeaseTokens(this.stmts, this.group);
    this.recover(Date.now());
    this.wal =
      this.walPath === null
        ? null
        : new WalKeeper({
            db: this.db,
            walPath: this.walPath,
            dbPath: options.path,
            mode: options.checkpointIn ?? (full ? "worker" : "inline"),
            // With sync interval the checkpoint is the fsync, so it keeps the configured period;
            // with sync full it only keeps the WAL short, and each one briefly holds the event loop.
            intervalMs: full ? Math.max(FULL_SYNC_CHECKPOINT_MS, options.walSyncIntervalMs ?? 100) : (options.walSyncIntervalMs ?? 100),
            maxWalBytes: options.maxWalBytes ?? 64 * 1024 * 1024,
            stepBytes: options.checkpointStepBytes ?? 4 * 1024 * 1024,
            isGroupOpen: () => this.group.isOpen,
            log: options.log,
          });
  }

  /** A checkpoint on the worker thread now (tests, operators); null when none ran. */
  checkpointInBackground(): Promise<CheckpointResult | null> {
    return this.wal?.checkpointInBackground() ?? Promise.resolve(null);
  }

  /** A checkpoint on this thread now, or right after the open group commits. */
  checkpoint(): void {
    if (!this.closed) this.wal?.checkpoint();
  }

  async submit(tasks: readonly NewTask[], nowMs: number): Promise<SubmitOutcome[]> {
    this.assertOpen();
    return this.group.run(() => {
      const out: SubmitOutcome[] = [];
      // Rows waiting for one multi-row INSERT; flushed before any key lookup so that seq order is
      // batch order and a key lookup sees every earlier row.
      const chunk: NewTask[] = [];
      const args: unknown[] = [];
      let earliestRunAt = Number.POSITIVE_INFINITY;
      const flush = (): void => {
        if (chunk.length === 0) return;
        const lastSeq = Number(this.stmts.insertRows(chunk.length).run(...(args as never[])).lastInsertRowid);
        const firstSeq = lastSeq - chunk.length + 1;
        chunk.forEach((t, i) => {
          if (t.runAtMs !== null && t.runAtMs > nowMs) {
            this.mem.addScheduled(t.queue, firstSeq + i, t.runAtMs);
            earliestRunAt = Math.min(earliestRunAt, t.runAtMs);
          } else {
            this.mem.ready.push(t.queue, firstSeq + i, t.priority, nowMs);
            this.readyAfterCommit.add(t.queue);
          }
        });
        chunk.length = 0;
        args.length = 0;
      };
      for (const t of tasks) {
        if (t.idempotencyKey !== null) {
          flush();
          const existing = this.stmts.byKey.get(t.idempotencyKey);
          if (existing !== null) {
            out.push({ id: uuidToString(existing.id), idBytes: existing.id, status: statusName(existing.status), duplicate: true });
            continue;
          }
        }
        const id = uuidv7Bytes(nowMs);
        const delayed = t.runAtMs !== null && t.runAtMs > nowMs;
        args.push(
          id, t.type, t.queue, t.payload, t.payloadIsJson ? FLAG.payloadIsJson : 0, t.priority, delayed ? STATUS.scheduled : STATUS.pending,
          t.runAtMs, t.maxRetries, t.leaseMs, t.idempotencyKey, nowMs, nowMs,
        );
        chunk.push(t);
        out.push({ id: uuidToString(id), idBytes: id, status: delayed ? "scheduled" : "pending", duplicate: false });
        if (chunk.length === INSERT_BATCH_ROWS || t.idempotencyKey !== null) flush();
      }
      flush();
      if (earliestRunAt !== Number.POSITIVE_INFINITY) this.options.onDue?.(earliestRunAt);
      return out;
    });
  }

  /**
   * Leases live in memory only (see LeaseState): a claim pops the ready index and reads the rows,
   * writes nothing, and answers without a commit, unless what it hands out is not durable yet
   * (tasks made ready by the group still open, or a new block of lease tokens) — then it waits
   * for that commit, so no worker ever runs a task a failed commit takes back.
   */
  async claim(request: ClaimRequest): Promise<Lease[]> {
    this.assertOpen();
    if (request.max <= 0 || !this.mem.ready.hasReady(request.queues)) return [];
    const readyNotDurable = this.readyAfterCommit.size > 0;
    const blocksBefore = this.tokens.blocksStarted;
    const leases: Lease[] = [];
    const made: LeaseState[] = [];
    let replyBytes = 0;
    // Entries are popped in rounds and their rows read together; a round starts
    // small and doubles, so large payloads are not read far past what one reply can carry.
    let round = CLAIM_FIRST_ROUND;
    let replyFull = false;
    while (leases.length < request.max && !replyFull) {
      const entries: (ReadyEntry & { queue: string })[] = [];
      for (let n = Math.min(round, request.max - leases.length); entries.length < n; ) {
        const entry = this.mem.ready.popBest(request.queues);
        if (entry === null) break;
        entries.push(entry);
      }
      if (entries.length === 0) break;
      round *= 2;
      const read = readClaimRows(this.stmts, entries.map((e) => e.seq));
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!;
        const row = read.get(entry.seq);
        // A stale ready entry (its row left pending meanwhile) is skipped.
        if (row === undefined || row.status !== STATUS.pending) continue;
        // The batch must fit one reply frame: what does not fit stays first in line, in order.
        replyBytes += row.payload.byteLength + REPLY_BYTES_PER_TASK;
        if (leases.length > 0 && replyBytes > MAX_REPLY_TASK_BYTES) {
          for (let j = entries.length - 1; j >= i; j--) this.mem.ready.unpop(entries[j]!);
          replyFull = true;
          break;
        }
        leases.push(this.lease(row, request, made));
      }
    }
    if (made.length > 0) this.options.onDue?.(made.reduce((min, l) => Math.min(min, l.expiresAtMs), Number.POSITIVE_INFINITY));
    const newTokenBlock = this.tokens.blocksStarted !== blocksBefore;
    if (readyNotDurable || newTokenBlock) {
      // Until that commit these leases are provisional: a failed commit drops them. A new token
      // block must also be on disk: after a crash that lost it, tokens would be issued again.
      for (const lease of made) this.provisionalLeases.add(lease);
      await this.group.settled();
      if (newTokenBlock) await this.tokens.latestBlockDurable();
      // The commit failed and memory was rebuilt from the file: these leases are void.
      if (leases.some((l) => this.mem.leaseOf({ id: l.task.id, token: l.token }) === undefined)) {
        throw storageUnavailable(this.lastCommitFailure);
      }
    }
    return leases;
  }

  /** A new lease on a pending row for the claim's worker, in memory (and in `made`). */
  private lease(row: ClaimRow, request: ClaimRequest, made: LeaseState[]): Lease {
    const token = this.tokens.issue();
    const expiresAtMs = request.nowMs + row.lease_ms;
    const task = claimedTask(row, request.workerId, request.nowMs, expiresAtMs);
    const lease: LeaseState = {
      seq: row.seq, id: task.id, token, workerId: request.workerId, expiresAtMs, queue: row.queue, priority: row.priority,
      leaseMs: row.lease_ms, startedAtMs: request.nowMs,
    };
    this.mem.addLease(lease);
    made.push(lease);
    return { task, idBytes: row.id, token, expiresAtMs };
  }

  /** Renewal is a memory write: leases are not in the file. */
  async renew(leases: readonly LeaseRef[], nowMs: number): Promise<(number | null)[]> {
    this.assertOpen();
    return leases.map((ref) => {
      const lease = this.mem.leaseOf(ref);
      if (lease === undefined) return null;
      lease.expiresAtMs = nowMs + lease.leaseMs;
      this.mem.leaseHeap.push(lease.expiresAtMs, lease.seq);
      return lease.expiresAtMs;
    });
  }

  async complete(ref: LeaseRef, result: TaskResultIn, nowMs: number): Promise<CompletedInfo> {
    this.assertOpen();
    return this.group.run(() => {
      const completions: Completion[] = [];
      const info = this.endCompleted(ref, result, completions);
      writeCompletions(this.stmts, completions, nowMs);
      return info;
    });
  }

  async fail(ref: LeaseRef, failure: FailureIn, nowMs: number): Promise<FailureOutcome> {
    this.assertOpen();
    return this.group.run(() => this.failNow(ref, failure, nowMs));
  }

  async report(items: readonly ReportItem[], nowMs: number): Promise<ReportItemResult[]> {
    this.assertOpen();
    return this.group.run(() => {
      // Completions are written together after the loop (row-batches.ts); each lease ends as its
      // item is checked, so one named twice is lost the second time.
      const completions: Completion[] = [];
      const out = items.map((item): ReportItemResult => {
        try {
          return "failed" in item
            ? { ok: true, failed: this.failNow(item.lease, item.failed, nowMs) }
            : { ok: true, completed: this.endCompleted(item.lease, item.completed, completions) };
        } catch (err) {
          // An item's own error is thrown before it writes (heldLease); anything else fails the group.
          if (err instanceof BrokerError) return { ok: false, error: err };
          throw err;
        }
      });
      writeCompletions(this.stmts, completions, nowMs);
      return out;
    });
  }

  /**
   * Ends a completed lease inside the open group and queues its row's write in `completions`
   * (the caller writes them with writeCompletions before the group commits).
   */
  private endCompleted(ref: LeaseRef, result: TaskResultIn, completions: Completion[]): CompletedInfo {
    const lease = this.heldLease(ref);
    this.endLease(lease);
    completions.push({ lease, result });
    return { queue: lease.queue, startedAtMs: lease.startedAtMs };
  }

  /** fail() inside the open group. */
  private failNow(ref: LeaseRef, failure: FailureIn, nowMs: number): FailureOutcome {
    const lease = this.heldLease(ref);
    const row = this.stmts.attemptsOf.get(lease.seq)!;
    const attempts = row.attempts + 1;
    const dead = failure.unrecoverable || attempts > row.max_retries;
    const retryAtMs = dead ? null : nowMs + retryDelayMs(attempts, this.backoff, this.random);
    this.stmts.fail.run(
      dead ? STATUS.dead : STATUS.failed, attempts, failure.error, retryAtMs, dead ? nowMs : null, nowMs, lease.seq, lease.workerId, lease.startedAtMs,
    );
    this.endLease(lease);
    if (retryAtMs !== null) {
      this.mem.addScheduled(lease.queue, lease.seq, retryAtMs);
      this.options.onDue?.(retryAtMs);
    }
    return { status: dead ? "dead" : "failed", retryAtMs, attempts };
  }

  /** A hand-back is a memory write: the row never left pending in the file. */
  async release(refs: readonly LeaseRef[], nowMs: number): Promise<void> {
    this.assertOpen();
    // A Set: the same lease named twice must go back to the ready index once. All are checked first.
    const leases = new Set(refs.map((ref) => this.heldLease(ref)));
    for (const lease of leases) this.handBack(lease, nowMs);
    this.announceReady();
  }

  async reclaimWorker(workerId: string, countAttempt: boolean, nowMs: number): Promise<string[]> {
    this.assertOpen();
    const held = [...this.mem.leasesByToken.values()].filter((l) => l.workerId === workerId);
    if (!countAttempt) {
      for (const lease of held) this.handBack(lease, nowMs);
      this.announceReady();
      return held.map((l) => l.id);
    }
    return this.group.run(() => {
      const reason = `worker ${workerId} was lost while running the task`;
      for (const lease of held) this.expireLease(lease, reason, nowMs);
      return held.map((l) => l.id);
    });
  }

  async cancel(id: string, nowMs: number): Promise<Task> {
    this.assertOpen();
    return this.group.run(() => {
      const row = this.rowOf(id);
      const status = this.mem.leasesBySeq.has(row.seq) ? "in_progress" : statusName(row.status);
      if (status !== "pending" && status !== "scheduled" && status !== "failed") {
        throw new BrokerError(ErrorCode.InvalidState, `task ${id} is ${status}; only pending, scheduled or failed tasks can be cancelled`, { field: "id" });
      }
      const updated = this.stmts.cancel.get(nowMs, row.seq)!;
      if (row.status === STATUS.pending) this.mem.ready.remove(row.queue, row.seq, row.priority);
      else this.mem.scheduledGone(row.queue);
      return rowToTask(updated);
    });
  }

  async retry(id: string, nowMs: number): Promise<Task> {
    this.assertOpen();
    return this.group.run(() => {
      const row = this.rowOf(id);
      if (row.status !== STATUS.dead && row.status !== STATUS.cancelled) {
        throw new BrokerError(ErrorCode.InvalidState, `task ${id} is ${statusName(row.status)}; only dead or cancelled tasks can be re-run`, { field: "id" });
      }
      const updated = this.stmts.retry.get(nowMs, row.seq)!;
      this.mem.ready.push(row.queue, row.seq, row.priority, nowMs);
      this.readyAfterCommit.add(row.queue);
      return rowToTask(updated);
    });
  }

  async get(id: string): Promise<Task | null> {
    this.assertOpen();
    const bytes = uuidFromString(id);
    if (bytes === null) return null;
    // Never show a row whose commit is still open: it may yet be rolled back.
    await this.group.settled();
    const row = this.stmts.byId.get(bytes);
    return row === null ? null : withLease(this.mem, row);
  }

  async list(query: ListQuery): Promise<ListPage> {
    this.assertOpen();
    const after = query.cursor === undefined ? 0 : Number(query.cursor);
    if (!Number.isSafeInteger(after) || after < 0) {
      throw new BrokerError(ErrorCode.InvalidField, `cursor ${JSON.stringify(query.cursor)} is not one this store returned`, { field: "cursor" });
    }
    const limit = Math.max(1, Math.min(1000, Math.floor(query.limit)));
    await this.group.settled();
    return listPage(this.stmts, this.mem, query, after, limit);
  }

  /**
   * At most MAX_TICK_STEPS heap entries per kind per tick, so a backlog (a million tasks due at the
   * same instant) is worked off over several ticks instead of one long stall; nextDueMs then says
   * "now" and the scheduler comes straight back.
   */
  async tick(nowMs: number): Promise<TickOutcome> {
    this.assertOpen();
    const dueMs = this.mem.nextDueMs();
    if (dueMs === null || dueMs > nowMs) return { promoted: 0, expired: 0, nextDueMs: dueMs };
    return this.group.run(() => {
      let promoted = 0;
      let expired = 0;
      const heap = this.mem.runAtHeap;
      for (let step = 0; step < MAX_TICK_STEPS && (heap.peekDueMs() ?? Number.POSITIVE_INFINITY) <= nowMs; step++) {
        const seq = heap.pop();
        if (this.stmts.promote.run(nowMs, seq).changes !== 1) continue;
        const row = this.stmts.placeOf.get(seq)!;
        this.mem.scheduledGone(row.queue);
        this.mem.ready.push(row.queue, seq, row.priority, nowMs);
        this.readyAfterCommit.add(row.queue);
        promoted++;
      }
      const leases = this.mem.leaseHeap;
      for (let step = 0; step < MAX_TICK_STEPS && (leases.peekDueMs() ?? Number.POSITIVE_INFINITY) <= nowMs; step++) {
        const seq = leases.pop();
        const lease = this.mem.leasesBySeq.get(seq);
        if (lease === undefined || lease.expiresAtMs > nowMs) continue;
        this.expireLease(lease, `lease expired after ${lease.leaseMs} ms without a result (worker ${lease.workerId})`, nowMs);
        expired++;
      }
      return { promoted, expired, nextDueMs: this.mem.nextDueMs() };
    });
  }

  /** One retention step (see RetentionWalk), in a group. */
  async purgeFinished(beforeMs: number, limit: number): Promise<PurgeStep> {
    this.assertOpen();
    const max = Math.max(0, Math.floor(limit));
    return this.group.run(() => this.retention.step(beforeMs, max));
  }

  /** Returns up to `maxPages` free pages to the file system (auto_vacuum = INCREMENTAL). */
  async reclaimSpace(maxPages: number): Promise<number> {
    this.assertOpen();
    await this.group.settled();
    const before = this.pragmaNumber("freelist_count");
    this.db.exec(`PRAGMA incremental_vacuum(${Math.max(1, Math.floor(maxPages))})`);
    killPoint(KILL_POINTS.compaction);
    return before - this.pragmaNumber("freelist_count");
  }

  counts(): StoreCounts {
    return this.mem.counts();
  }

  pendingCount(): number {
    return this.mem.ready.size;
  }

  hasReady(queues: readonly string[]): boolean {
    return this.mem.ready.hasReady(queues);
  }

  async ping(): Promise<void> {
    this.assertOpen();
    return this.group.run(() => {
      this.tokens.persist();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.group.flushNow();
    this.closed = true;
    await this.group.synced();
    this.walSync?.close();
    await this.wal?.stop();
    try {
      if (this.walPath !== null) this.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } finally {
      this.db.close();
    }
  }

  /** Commit latency and checkpoint figures (benchmarks, metrics). */
  commitStats(): CommitStats {
    return { ...this.group.figures(), ...(this.wal?.stats ?? noCheckpoints()) };
  }

  /** Bytes of the in-memory typed-array indexes. */
  indexBytes(): number {
    return this.mem.indexBytes;
  }

  private assertOpen(): void {
    if (this.closed) throw new BrokerError(ErrorCode.ShuttingDown, "the store is closed");
  }

  /** The live lease `ref` names, or NotFound / LeaseLost. Reads only, so it may throw inside a group op. */
  private heldLease(ref: LeaseRef): LeaseState {
    const lease = this.mem.leaseOf(ref);
    if (lease !== undefined) return lease;
    const row = this.rowOf(ref.id);
    const leased = this.mem.leasesBySeq.has(row.seq);
    throw new BrokerError(
      ErrorCode.LeaseLost,
      `lease token ${ref.token} on task ${ref.id} is not current (task is ${statusName(row.status)}${leased ? `, leased under a newer token` : ""}); the task may be running elsewhere`,
      { field: "token" },
    );
  }

  private rowOf(id: string): TaskRow {
    const bytes = uuidFromString(id);
    const row = bytes === null ? null : this.stmts.byId.get(bytes);
    if (row === null) throw new BrokerError(ErrorCode.NotFound, `no task with id ${JSON.stringify(id)}`, { field: "id" });
    return row;
  }

  /** A lease ends without a result and counts as an attempt: back to pending now, or dead when it was the last. Inside a group op. */
  private expireLease(lease: LeaseState, reason: string, nowMs: number): void {
    this.endLease(lease);
    const row = this.stmts.expire.get(nowMs, reason, lease.seq, lease.workerId, lease.startedAtMs)!;
    if (row.status === STATUS.pending) {
      this.mem.ready.push(lease.queue, lease.seq, row.priority, nowMs);
      this.readyAfterCommit.add(lease.queue);
    }
  }

  /** A group op ends a lease: gone from memory now, back if the group fails. */
  private endLease(lease: LeaseState): void {
    this.mem.removeLease(lease);
    this.endedInGroup.push(lease);
  }

  /** A lease ends without counting an attempt: the row is pending in the file already, so only memory changes. */
  private handBack(lease: LeaseState, nowMs: number): void {
    this.mem.removeLease(lease);
    this.mem.ready.push(lease.queue, lease.seq, lease.priority, nowMs);
    this.handedBack.add(lease.queue);
  }

  /** Wakes blocking claims on queues that got tasks back without a commit. */
  private announceReady(): void {
    if (this.handedBack.size === 0) return;
    const queues = [...this.handedBack];
    this.handedBack.clear();
    for (const q of queues) this.notify("onReady", () => this.options.onReady?.(q));
  }

  /** After a commit: the listeners (a throwing one is logged, never allowed to break the flush), then WAL upkeep. */
  private committed(): void {
    this.provisionalLeases.clear();
    this.endedInGroup = [];
    if (this.readyAfterCommit.size > 0) {
      const queues = [...this.readyAfterCommit];
      this.readyAfterCommit.clear();
      for (const q of queues) this.notify("onReady", () => this.options.onReady?.(q));
    }
    this.wal?.afterCommit();
  }

  private notify(listener: string, call: () => void): void {
    try {
      call();
    } catch (err) {
      this.options.log?.(`${listener} listener threw`, { error: String(err) });
    }
  }

  private pragmaNumber(name: string): number {
    const row = this.db.query(`PRAGMA ${name}`).values()[0];
    return Number(row?.[0] ?? 0);
  }

  /** Open: leases of a previous run are void (their workers are gone with it), then load memory. */
  private recover(nowMs: number): void {
    this.db.transaction(() => this.stmts.requeueInProgress.run(nowMs))();
    killPoint(KILL_POINTS.recovery);
    this.tokens.load();
    this.loadMemory();
    // Loading a million rows leaves their row objects as garbage: collect it now, before the broker
    // serves, rather than carry it in RSS until the collector gets round to it.
    if (this.mem.ready.size > RECOVERY_GC_ROWS) Bun.gc(true);
  }

  private rebuildAfterFailure(err: unknown): void {
    this.lastCommitFailure = err;
    this.readyAfterCommit.clear();
    this.options.log?.("group commit failed; rebuilding memory from the database", { error: storageUnavailable(err).message });
    const leases = [...this.mem.leasesByToken.values(), ...this.endedInGroup].filter((l) => !this.provisionalLeases.has(l));
    this.provisionalLeases.clear();
    this.endedInGroup = [];
    this.tokens.forgetUncommittedBlock();
    try {
      this.loadMemory();
      // Leases are not in the file: keep those whose rows are still pending there (their workers
      // are running them) and take those rows out of the ready index again.
      for (const lease of leases) {
        const row = this.stmts.bySeq.get(lease.seq);
        if (row === null || row.status !== STATUS.pending) continue;
        this.mem.ready.remove(lease.queue, lease.seq, row.priority);
        this.mem.addLease(lease);
      }
    } catch (loadErr) {
      this.options.log?.("rebuild after a failed commit failed too", { error: String(loadErr) });
    }
  }

  private loadMemory(): void {
    loadMemory(this.stmts, this.mem);
  }
}

export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}
