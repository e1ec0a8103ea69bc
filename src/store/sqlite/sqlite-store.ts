// The default Store: tasks in one SQLite file (WAL, group commit), indexes in memory so claims and
// promotions never scan. Every Store method is here, writes in groups, with rows and leases handled
// by lease-book, insert-tasks and status-changes; the broker's validation and defaults live above.

import type { Database } from "bun:sqlite";
import { systemClock } from "../../clock.ts";
import { BrokerError, ErrorCode } from "../../protocol/errors.ts";
import { uuidFromString } from "../../protocol/uuid.ts";
import { DEFAULT_RETRY_POLICY } from "../../rules/transitions.ts";
import type { ClaimRequest, ListPage, ListRequest, PurgeStep, ReadyAhead, ReportItem, ReportItemResult, Store, TaskFilter, TickOutcome } from "../store.ts";
import type { TaskRun } from "../../rules/task.ts";
import type { CancelOutcome, Lease, LeaseRef, NewTask, TaskCounts, SubmitOutcome, Task } from "../../rules/task.ts";
import { Announcements } from "./announcements.ts";
import { ChecksAfterOpen, type AfterOpenReport } from "./checks-after-open.ts";
import { writeCleanStop, type FileStamp } from "./clean-stop.ts";
import type { CheckpointResult } from "./checkpointer.ts";
import { GroupCommit, storageUnavailable, type CommitFigures } from "./group-commit.ts";
import { KILL_POINTS, killPoint } from "./kill-points.ts";
import { LeaseBook } from "./lease-book.ts";
import { LeaseTokens } from "./lease-tokens.ts";
import { countTasks, listPage } from "./list-pages.ts";
import { loadMemory, loadRow, recountFinished, reloadKeepingLeases } from "./load-memory.ts";
import { memoryAfterCleanStop, snapshotAtStop, takeMemorySnapshot, writeMemorySnapshot, type CapturedMemory, type MemoryFrom } from "./memory-snapshot.ts";
import { MemoryState, type LeaseState } from "./memory-state.ts";
import { openChecked, PhaseClock, type DataLossReport, type OpenCheckFigures } from "./open-checks.ts";
import type { Quarantine } from "./quarantine.ts";
import { QuarantineMover } from "./quarantine-mover.ts";
import { RetentionWalk } from "./retention-walk.ts";
import { stateCrcAfter } from "./row-checksum.ts";
import { writeCompletions, type Completion } from "./row-batches.ts";
import { insertTasks } from "./insert-tasks.ts";
import { cancelRow, deleteRow, promoteDue, retryRow } from "./status-changes.ts";
import type { SqliteStoreOptions } from "./sqlite-store-options.ts";
import { Statements } from "./statements.ts";
import { readById, rowById, runsOfRow, withLease } from "./task-reads.ts";
import { STATUS, statusName } from "./task-row.ts";
import { noCheckpoints, WalKeeper, type CheckpointFigures } from "./wal-keeper.ts";
import { WalSync } from "./wal-sync.ts";

export type { SqliteStoreOptions };

// Heap entries one tick works through per kind: bounds how long a tick holds the event loop (~10 ms).
const MAX_TICK_STEPS = 2000;
// Pending rows loaded at open past which recovery runs a full collection before serving.
const RECOVERY_GC_ROWS = 100_000;
// Checkpoint period with sync full (growth past checkpointStepBytes still triggers one sooner).
const FULL_SYNC_CHECKPOINT_MS = 1000;
// Sync full: a group of results alone waits this long for a submit to share its COMMIT and fsync
// (SqliteStoreOptions.resultsWaitMs). At 1,000 tasks/s one at a time that halves the fsyncs per task;
// under load every group has company anyway.
const DEFAULT_RESULTS_WAIT_MS = 2;

export type CommitStats = CommitFigures & CheckpointFigures;

export class SqliteStore implements Store {
  private readonly db: Database;
  private readonly stmts: Statements;
  private readonly retention: RetentionWalk;
  private readonly group: GroupCommit;
  private readonly mem = new MemoryState();
  private readonly notes: Announcements;
  private readonly leases: LeaseBook;
  private readonly wal: WalKeeper | null;
  private readonly walPath: string | null;
  private readonly walSync: WalSync | null;
  /** Why the last group failed: what a claim that waited on it reports. */
  private lastCommitFailure: unknown = null;
  private readonly tokens: LeaseTokens;
  private readonly quarantine: Quarantine;
  private readonly mover: QuarantineMover;
  private opened = false;
  private closed = false;
  /** The database's id, for the record of a clean stop; null in memory. */
  private readonly dbId: number | null;
  /** Rows and indexes still to check after serving (a start after a clean stop); null when checked at open. */
  private readonly afterOpen: ChecksAfterOpen | null = null;
  /** A failed WAL fsync: the file may not hold what was acknowledged; no clean stop is recorded. */
  private fatal = false;
  /** What the checks at open found and the accepted start lost or repaired; null when the data was whole. */
  readonly dataLoss: DataLossReport | null;
  /** What the checks at open cost. */
  readonly openChecks: OpenCheckFigures;
  /** The checks after open (see afterOpen): settles with what they found; null when everything was checked at open. */
  readonly checksAfterOpen: Promise<AfterOpenReport> | null = null;
  /**
   * Where the open filled memory from: "snapshot" (the last clean stop's, memory-snapshot.ts),
   * "table" (every row read), "checked rows" (the scan that checked every row before serving), and
   * why not the snapshot after a clean stop, when there was one that did not fit.
   */
  get memoryFrom(): MemoryFrom {
    return this.loadedFrom;
  }
  private loadedFrom: MemoryFrom = { source: "table", snapshotUnused: null };

  constructor(private readonly options: SqliteStoreOptions) {
    const full = (options.sync ?? "full") === "full";
    this.walPath = options.path === ":memory:" ? null : `${options.path}-wal`;
    this.notes = new Announcements(options.events ?? {}, (listener, call) => this.notify(listener, call));
    // Sync full on a file: SQLite does not fsync inside COMMIT; WalSync does it off the event loop.
    this.walSync = full && this.walPath !== null && options.syncWal === undefined ? new WalSync(this.walPath) : null;
    const syncWal = options.syncWal ?? (this.walSync === null ? undefined : this.walSync.sync.bind(this.walSync));
    const phases = new PhaseClock();
    const opened = openChecked({
      path: options.path,
      clock: phases,
      synchronous: full && syncWal === undefined ? "full" : "normal",
      cacheMiB: options.cacheMiB ?? 32,
      acceptDataLoss: options.acceptDataLoss ?? false,
      // Rows found during the open itself are dealt with by the checks (the mover exists after).
      onDamagedRow: () => this.mover?.schedule(),
      // The scan at open reads every row anyway: it fills the memory indexes on the way, which
      // saves recovery a second pass over the table.
      onCheckedRow: (row) => loadRow(this.mem, row),
    });
    this.db = opened.db;
    this.dbId = opened.dbId;
    this.quarantine = opened.quarantine;
    this.stmts = new Statements(this.db, this.quarantine.passes);
    this.retention = new RetentionWalk(this.stmts, (queue, status) => this.mem.finished.add(queue, statusName(status) as "completed" | "dead" | "cancelled", -1));
    this.group = new GroupCommit({
      db: this.db,
      flushOn: options.flushOn ?? "immediate",
      beforeCommit: options.beforeCommit,
      commitAtOnce: () => this.notes.readyPending,
      mayWaitMs: full ? (options.resultsWaitMs ?? DEFAULT_RESULTS_WAIT_MS) : 0,
      onRolledBack: (err) => this.rebuildAfterFailure(err),
      onCommitted: () => this.committed(),
      onAcknowledged: (ops, ms) => this.notify("onCommit", () => this.options.onCommit?.(ops, ms)),
      sync: full ? syncWal : undefined,
      onSyncFailed: (err) => {
        this.fatal = true;
        this.options.log?.("fsync of the WAL failed; nothing more will be acknowledged", { error: String(err) });
        this.notify("onFatal", () => this.options.onFatal?.(err));
      },
    });
    this.mover = new QuarantineMover({
      quarantine: this.quarantine,
      group: this.group,
      mem: this.mem,
      serving: () => this.opened && !this.closed,
      // Rows moved out may have been counted as finished: count again from the file.
      recount: () => recountFinished(this.stmts, this.mem),
      onMoved: (rows) => this.notify("onQuarantine", () => this.options.onQuarantine?.(rows)),
      log: options.log,
    });
    this.tokens = new LeaseTokens(this.stmts, this.group);
    this.leases = new LeaseBook({
      stmts: this.stmts,
      mem: this.mem,
      tokens: this.tokens,
      notes: this.notes,
      retry: options.retry ?? DEFAULT_RETRY_POLICY,
      onDue: (dueMs) => this.due(dueMs),
    });
    phases.lap("prepare");
    try {
      const requeued = this.recover((options.clock ?? systemClock).now());
      phases.lap("recover");
      // Taken at every open, used or not: no snapshot outlives the start after the stop that wrote it.
      const snapshot = this.walPath === null ? null : takeMemorySnapshot(options.path);
      // Rows not checked yet (they are, right after serving): memory from the last clean stop's
      // snapshot, or reading only the columns it needs from every row.
      if (opened.checkAfterServing) {
        this.loadedFrom = memoryAfterCleanStop({ path: options.path, stmts: this.stmts, mem: this.mem, dbId: this.dbId, file: opened.cleanStopFile, snapshot, requeued });
        phases.lap("load");
      } else this.loadedFrom = { source: "checked rows", snapshotUnused: null };
      if (requeued > 0 && !opened.checkAfterServing) this.loadFromIndexes(phases);
      // Loading a million rows leaves their row objects as garbage: collect it now, while the
      // structure check runs on its worker and before the broker serves, rather than carry it in
      // RSS until the collector gets round to it (after a snapshot there is less, but the wait
      // for the check is there anyway).
      this.collectAfterLoad(phases);
      const finished = opened.finish();
      this.dataLoss = finished.report;
      this.openChecks = finished.figures;
      if (finished.reload) {
        this.loadFromIndexes(phases);
        this.collectAfterLoad(phases);
      }
    } catch (err) {
      const thrown = opened.abandon(err);
      this.db.close();
      throw thrown;
    }
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
    this.opened = true;
    if (opened.checkAfterServing) {
      this.afterOpen = this.startChecksAfterOpen();
      this.checksAfterOpen = this.afterOpen.done;
    }
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
      const { outcomes, earliestRunAtMs } = insertTasks(this.stmts, this.mem, tasks, nowMs, this.notes);
      if (earliestRunAtMs !== null) this.due(earliestRunAtMs);
      return outcomes;
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
    const readyNotDurable = this.notes.readyPending;
    const blocksBefore = this.tokens.blocksStarted;
    const made: LeaseState[] = [];
    const leases = this.leases.claimReady(request, made);
    if (made.length > 0) {
      let earliest = made[0]!.expiresAtMs;
      for (const lease of made) if (lease.expiresAtMs < earliest) earliest = lease.expiresAtMs;
      this.due(earliest);
    }
    const newTokenBlock = this.tokens.blocksStarted !== blocksBefore;
    if (readyNotDurable || newTokenBlock) {
      // Until that commit these leases are provisional: a failed commit drops them. A new token
      // block must also be on disk: after a crash that lost it, tokens would be issued again.
      this.leases.markProvisional(made);
      await this.group.settled();
      if (newTokenBlock) await this.tokens.latestBlockDurable();
      // The commit failed and memory was rebuilt from the file: these leases are void.
      if (leases.some((l) => this.leases.current({ id: l.task.id, token: l.token }) === undefined)) {
        throw storageUnavailable(this.lastCommitFailure);
      }
    }
    return leases;
  }

  /** Renewal is a memory write: leases are not in the file. */
  async renew(leases: readonly LeaseRef[], nowMs: number): Promise<(number | null)[]> {
    this.assertOpen();
    return this.leases.renew(leases, nowMs);
  }

  async report(items: readonly ReportItem[], nowMs: number, mayWait = false): Promise<ReportItemResult[]> {
    this.assertOpen();
    return this.group.run(() => {
      // Completions are written together after the loop (row-batches.ts); each lease ends as its
      // item is checked, so one named twice is lost the second time.
      const completions: Completion[] = [];
      const out = items.map((item): ReportItemResult => {
        try {
          return "failed" in item
            ? { ok: true, failed: this.leases.fail(item.lease, item.failed, nowMs) }
            : { ok: true, completed: this.leases.complete(item.lease, item.completed, completions) };
        } catch (err) {
          // An item's own error is thrown before it writes (heldLease); anything else fails the group.
          if (err instanceof BrokerError) return { ok: false, error: err };
          throw err;
        }
      });
      writeCompletions(this.stmts, completions, nowMs);
      return out;
    }, mayWait);
  }

  /** A hand-back is a memory write: the row never left pending in the file. */
  async release(refs: readonly LeaseRef[], nowMs: number): Promise<void> {
    this.assertOpen();
    // A Set: the same lease named twice must go back to the ready index once. All are checked first.
    const leases = new Set(refs.map((ref) => this.leases.held(ref)));
    for (const lease of leases) this.leases.handBack(lease, nowMs);
    this.notes.announceHandedBack();
  }

  async reclaimWorker(workerId: string, countAttempt: boolean, nowMs: number): Promise<string[]> {
    this.assertOpen();
    const held = this.leases.heldBy(workerId);
    if (!countAttempt) {
      for (const lease of held) this.leases.handBack(lease, nowMs);
      this.notes.announceHandedBack();
      return held.map((l) => l.id);
    }
    return this.group.run(() => {
      const reason = `worker ${workerId} was lost while running the task`;
      for (const lease of held) this.leases.expire(lease, reason, nowMs, "worker_lost");
      return held.map((l) => l.id);
    });
  }

  async cancel(id: string, nowMs: number): Promise<CancelOutcome> {
    this.assertOpen();
    return this.group.run(() => {
      const row = rowById(this.stmts, id);
      const lease = this.mem.leasesBySeq.get(row.seq);
      if (lease === undefined) return { task: cancelRow(this.stmts, this.mem, row, nowMs, this.notes), endedLease: null };
      return { task: this.leases.cancel(lease, nowMs), endedLease: { token: lease.token, workerId: lease.workerId } };
    });
  }

  async retry(id: string, nowMs: number): Promise<Task> {
    this.assertOpen();
    return this.group.run(() => {
      return retryRow(this.stmts, this.mem, id, nowMs, this.notes);
    });
  }

  /** SQLite keeps no tombstone, so the time of the delete is not written. */
  async delete(id: string, _nowMs: number): Promise<Task> {
    this.assertOpen();
    return this.group.run(() => deleteRow(this.stmts, this.mem, id));
  }

  async runs(id: string): Promise<TaskRun[]> {
    this.assertOpen();
    const bytes = uuidFromString(id);
    if (bytes === null) return [];
    await this.group.settled();
    const row = readById(this.stmts, bytes);
    return row === null ? [] : runsOfRow(this.stmts, row);
  }

  async readyAhead(id: string): Promise<ReadyAhead | null> {
    this.assertOpen();
    const bytes = uuidFromString(id);
    if (bytes === null) return null;
    await this.group.settled();
    const row = readById(this.stmts, bytes);
    if (row === null || row.status !== STATUS.pending || this.mem.leasesBySeq.has(row.seq)) return null;
    const ahead = this.mem.ready.ahead(row.queue, row.seq, row.priority);
    return ahead === null ? null : { higherPriority: ahead.higher, samePriority: ahead.same };
  }

  async count(filter: TaskFilter): Promise<number> {
    this.assertOpen();
    return countTasks(this.stmts, this.mem, filter, () => this.group.settled());
  }

  async runningByWorker(): Promise<Map<string, number>> {
    this.assertOpen();
    // Leases live in memory: one pass over them, no read of the file.
    const out = new Map<string, number>();
    for (const lease of this.mem.leasesBySeq.values()) out.set(lease.workerId, (out.get(lease.workerId) ?? 0) + 1);
    return out;
  }

  async setPaused(queue: string, paused: boolean, nowMs: number): Promise<void> {
    this.assertOpen();
    await this.group.run(() => {
      if (paused) this.stmts.pauseQueue.run(queue, nowMs);
      else this.stmts.resumeQueue.run(queue);
    });
  }

  async pausedQueues(): Promise<string[]> {
    this.assertOpen();
    await this.group.settled();
    return this.stmts.pausedQueues.all().map((r) => r.queue);
  }

  async get(id: string): Promise<Task | null> {
    this.assertOpen();
    const bytes = uuidFromString(id);
    if (bytes === null) return null;
    // Never show a row whose commit is still open: it may yet be rolled back.
    await this.group.settled();
    const row = readById(this.stmts, bytes);
    if (row !== null) return withLease(this.mem, row);
    const why = this.quarantine.reasonFor(bytes);
    if (why === null) return null;
    throw new BrokerError(ErrorCode.NotFound, `task ${id} is quarantined: ${why} (it is kept in the quarantine table, never served)`, { field: "id" });
  }

  async list(query: ListRequest): Promise<ListPage> {
    this.assertOpen();
    const limit = Math.max(1, Math.min(1000, Math.floor(query.limit)));
    await this.group.settled();
    return listPage(this.stmts, this.mem, query, limit);
  }

  /**
   * At most MAX_TICK_STEPS heap entries per kind per tick, so a backlog (a million tasks due at the
   * same instant) is worked off over several ticks instead of one long stall; nextDueMs then says
   * "now" and the scheduler comes straight back.
   */
  async tick(nowMs: number): Promise<TickOutcome> {
    this.assertOpen();
    const dueMs = this.mem.nextDueMs();
    if (dueMs === null || dueMs > nowMs) return { promoted: 0, expired: 0, expiredLeases: [], nextDueMs: dueMs };
    return this.group.run(() => {
      const promoted = promoteDue(this.stmts, this.mem, nowMs, MAX_TICK_STEPS, this.notes);
      const expiredLeases = this.leases.expireDue(nowMs, MAX_TICK_STEPS);
      return { promoted, expired: expiredLeases.length, expiredLeases, nextDueMs: this.mem.nextDueMs() };
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

  /** From memory: the indexes hold every count. */
  async counts(): Promise<TaskCounts> {
    return this.mem.counts();
  }

  async pendingCount(): Promise<number> {
    return this.mem.ready.size;
  }

  async ping(): Promise<void> {
    this.assertOpen();
    return this.group.run(() => {
      this.tokens.persist();
    });
  }

  /**
   * Commits, empties the WAL into the database and closes. When every check of this run finished
   * and nothing failed, records the clean stop, so that the next open checks rows and indexes
   * after serving (clean-stop.ts).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.group.flushNow();
    this.closed = true;
    await this.afterOpen?.stop();
    await this.group.synced();
    this.walSync?.close();
    await this.wal?.stop();
    const checked = this.afterOpen === null || this.afterOpen.completed;
    const recording = this.walPath !== null && this.dbId !== null && checked && !this.fatal;
    let captured: CapturedMemory | null = null;
    try {
      // After the last commit, before the checkpoint: memory and the file as the record will find them.
      if (recording) captured = this.captureForSnapshot();
      if (this.walPath !== null) this.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } finally {
      this.db.close();
    }
    if (!recording || this.dbId === null) return;
    const dbId = this.dbId;
    try {
      await writeCleanStop(this.options.path, dbId, (file) => {
        if (captured !== null) this.writeSnapshot(dbId, file, captured);
      });
    } catch (err) {
      // The stop is clean all the same; the next start just checks everything before serving.
      this.options.log?.("could not record the clean stop", { error: String(err) });
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

  /** Memory again, through the status index (after a re-queue at open, or rows moved out). */
  private loadFromIndexes(phases: PhaseClock): void {
    loadMemory(this.stmts, this.mem);
    this.loadedFrom = { ...this.memoryFrom, source: "table" };
    phases.lap("load");
  }

  private collectAfterLoad(phases: PhaseClock): void {
    if (this.mem.ready.size <= RECOVERY_GC_ROWS) return;
    Bun.gc(true);
    phases.lap("gc");
  }

  /** What the snapshot at the stop holds; null when it cannot be taken or does not agree with the file (the next start reads the table). */
  private captureForSnapshot(): CapturedMemory | null {
    try {
      const taken = snapshotAtStop(this.db, this.stmts, this.mem);
      if ("captured" in taken) return taken.captured;
      this.options.log?.("no memory snapshot written: the next start reads every row", { because: taken.unused });
    } catch (err) {
      this.options.log?.("could not take the memory snapshot; the next start reads every row", { error: String(err) });
    }
    return null;
  }

  private writeSnapshot(dbId: number, file: FileStamp, captured: CapturedMemory): void {
    try {
      writeMemorySnapshot(this.options.path, dbId, file, captured);
    } catch (err) {
      this.options.log?.("could not write the memory snapshot; the next start reads every row", { error: String(err) });
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new BrokerError(ErrorCode.ShuttingDown, "the store is closed");
  }

  /** Every submit and claim tells of a due time: called directly, not through notify's closure. */
  private due(atMs: number): void {
    const events = this.options.events;
    if (events?.due === undefined) return;
    try {
      events.due(atMs);
    } catch (err) {
      this.options.log?.("due listener threw", { error: String(err) });
    }
  }

  /** After a commit: the announcements (a throwing listener is logged, never allowed to break the flush), then WAL upkeep. */
  private committed(): void {
    this.leases.committed();
    this.notes.committed();
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

  /**
   * Open: leases of a previous run are void (their workers are gone with it). Memory was loaded by
   * the scan at open; returns how many in_progress rows (of earlier builds) went back to pending,
   * after which memory must be loaded again.
   */
  private recover(nowMs: number): number {
    // Only rows marked in_progress by earlier builds (leases live in memory now).
    const requeued = this.db.transaction(() => {
      const rows = this.stmts.inProgress.all();
      for (const row of rows) {
        this.stmts.requeue.run(nowMs, stateCrcAfter(row, { status: STATUS.pending, updated_at: nowMs }), row.seq);
      }
      return rows.length;
    })();
    killPoint(KILL_POINTS.recovery);
    this.tokens.load();
    return requeued;
  }

  /** Rows, then indexes, checked after serving; damage is dealt with as if found while serving. */
  private startChecksAfterOpen(): ChecksAfterOpen {
    const checks = new ChecksAfterOpen({
      path: this.options.path,
      // Read again here, through CheckedRows: it quarantines the row (the mover moves it out).
      onDamagedRow: (row) => void this.stmts.bySeq.get(row.seq),
      settleQuarantine: async () => {
        if (this.quarantine.pending > 0) await this.mover.moveNow();
      },
      rebuildIndexes: (names) =>
        this.group.run(() => {
          for (const name of names) this.db.exec(`REINDEX "${name.replaceAll('"', '""')}"`);
          // A snapshot was checked against these indexes: memory is read again from the table.
          if (this.loadedFrom.source === "snapshot") {
            reloadKeepingLeases(this.stmts, this.mem, [...this.mem.leasesBySerial.values()]);
            this.loadedFrom = { source: "table", snapshotUnused: "the indexes it was checked against were rebuilt after serving" };
          }
        }),
    });
    checks.start();
    void checks.done.then((report) => this.notify("onChecksAfterOpen", () => this.options.onChecksAfterOpen?.(report)));
    return checks;
  }

  private rebuildAfterFailure(err: unknown): void {
    this.lastCommitFailure = err;
    this.notes.failed();
    this.options.log?.("group commit failed; rebuilding memory from the database", { error: storageUnavailable(err).message });
    const leases = this.leases.survivorsOfFailure();
    this.tokens.forgetUncommittedBlock();
    try {
      reloadKeepingLeases(this.stmts, this.mem, leases);
    } catch (loadErr) {
      this.options.log?.("rebuild after a failed commit failed too", { error: String(loadErr) });
    }
  }
}

export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}
