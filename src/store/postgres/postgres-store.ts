// The PostgreSQL Store: several brokers on one database. Every write goes through the group
// commit (pg-group.ts) and is acknowledged after COMMIT; leases live in the tasks table, so they
// outlive the broker that issued them; what one broker commits, the others hear of by NOTIFY (and
// a slow poll). What a transition leads to is asked of rules/, in the statements' modules.

import { randomBytes } from "node:crypto";
import { SQL } from "bun";
import { systemClock } from "../../clock.ts";
import { BrokerError, ErrorCode } from "../../protocol/errors.ts";
import type { WorkerCommand } from "../../protocol/wire-values.ts";
import { DEFAULT_RETRY_POLICY } from "../../rules/transitions.ts";
import type { CancelOutcome, Lease, LeaseRef, NewTask, SubmitOutcome, Task, TaskCounts, TaskRun } from "../../rules/task.ts";
import type { WorkerPresence } from "../cluster.ts";
import type {
  ClaimRequest, ListPage, ListRequest, PurgeStep, ReadyAhead, ReportItem, ReportItemResult, Store, TaskFilter, TickOutcome,
} from "../store.ts";
import { TOKEN_KEY_BYTES, TokenCipher } from "../token-cipher.ts";
import { claimBatch } from "./claim-batch.ts";
import { channelOf, decodeNotes, encodeNotes, encodeWorkerCommand, notifyInTx, readyQueues } from "./cluster-bus.ts";
import { recoverOwnLeases } from "./lease-ends.ts";
import { nextDueMs, reclaimWorkerLeases, releaseLeases, renewBatch, tickWrites } from "./lease-ops.ts";
import { PendingCount } from "./pending-count.ts";
import { storageUnavailable } from "./pg-errors.ts";
import { PgGroup, TxNotes } from "./pg-group.ts";
import type { PostgresStoreOptions } from "./postgres-store-options.ts";
import { reportBatch } from "./report-batch.ts";
import { migrate } from "./schema.ts";
import { submitBatch } from "./submit-batch.ts";
import { runsOf } from "./run-history.ts";
import { cancelTask, deleteTask, purgeFinished, rerunTask } from "./task-ops.ts";
import { countMatching, countTasks, getRow, getTask, listTasks, readyAhead } from "./task-reads.ts";
import { PgWorkerPresence } from "./worker-presence.ts";

export type { PostgresStoreOptions };

/** Most tasks the safety-net poll announces per queue: enough for claims to ask the store. */
const POLL_READY_CAP = 1000;
/** Polls between two writes of this broker's row in the brokers table (about 6 s). */
const POLLS_PER_SIGN_OF_LIFE = 4;
/** Polls between two sweeps of day-old worker records. */
const POLLS_PER_SWEEP = 600;
/** Clock difference with the database past which the start warns (leases and delays follow the brokers' clocks). */
const MAX_CLOCK_SKEW_MS = 1000;

export class PostgresStore implements Store, WorkerPresence {
  /** This run of the broker: notifications it sent itself are ignored when they come back. */
  readonly instance = randomBytes(8).toString("hex");
  /** Another broker with this node id was seen (and logged once). */
  private twinWarned = false;
  private readonly group: PgGroup;
  private readonly pending: PendingCount;
  private readonly presence: PgWorkerPresence;
  private readonly channel: string;
  private cipher: TokenCipher | null = null;
  private listening: { unlisten(): Promise<void> } | null = null;
  private poll: ReturnType<typeof setInterval> | null = null;
  private polls = 0;
  private closed = false;
  private readonly claimKind;
  private readonly reportKind;
  private readonly renewKind;
  /** Tasks its earlier run had leased that this start handed back (logged by the owner). */
  recoveredLeases = 0;

  private constructor(
    private readonly sql: SQL,
    private readonly options: PostgresStoreOptions,
  ) {
    const cipher = (): TokenCipher => this.cipher!;
    this.claimKind = claimBatch(options.nodeId, cipher);
    this.reportKind = reportBatch(options.retry ?? DEFAULT_RETRY_POLICY, cipher);
    this.renewKind = renewBatch(cipher);
    this.channel = channelOf(options.schema);
    this.pending = new PendingCount(sql, options.pendingCountMaxAgeMs ?? 250);
    this.presence = new PgWorkerPresence(sql, options.nodeId, (msg, fields) => this.log(msg, fields));
    this.group = new PgGroup({
      sql,
      maxInFlight: Math.max(1, Math.min(4, options.poolSize - 2)),
      maxOps: 512,
      order: ["submit", "report", "renew", "single", "claim"],
      beforeCommit: (tx, notes) => notifyInTx(tx, this.channel, encodeNotes(this.instance, notes)),
      onCommitted: (notes, ops, ms) => this.committed(notes, ops, ms),
      log: (msg, fields) => this.log(msg, fields),
    });
  }

  /** Connects, migrates the schema, hands back what an earlier run of this node leased, and starts listening. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const sql = new SQL(options.url, {
      max: options.poolSize,
      connectionTimeout: options.connectTimeoutSecs ?? 5,
      connection: {
        search_path: options.schema,
        synchronous_commit: options.synchronousCommit ? "on" : "off",
        application_name: `tq-broker ${options.nodeId}`.slice(0, 63),
        // A broker frozen inside a transaction would hold its rows' locks for ever: the server
        // ends such a session, its transaction rolls back, and the others go on.
        idle_in_transaction_session_timeout: 15_000,
      },
    });
    const store = new PostgresStore(sql, options);
    try {
      await store.start();
    } catch (err) {
      await sql.close({ timeout: 0 }).catch(() => undefined);
      throw err;
    }
    return store;
  }

  private async start(): Promise<void> {
    const migrated = await migrate(this.sql, this.options.schema);
    if (migrated.from !== migrated.to) this.log("schema migrated", { schema: this.options.schema, ...migrated }, "info");
    const [key] = (await this.sql`SELECT value FROM meta WHERE key = 'lease_token_key'`) as { value: string }[];
    const keyBytes = Buffer.from(key?.value ?? "", "hex");
    if (keyBytes.byteLength !== TOKEN_KEY_BYTES) throw new Error(`meta.lease_token_key of schema ${this.options.schema} is damaged`);
    this.cipher = new TokenCipher(keyBytes);
    await this.checkClock();
    await this.signOfLife(true);
    const notes = new TxNotes();
    this.recoveredLeases = await recoverOwnLeases(this.sql, this.options.nodeId, (this.options.clock ?? systemClock).now(), notes);
    if (notes.ready.size > 0) await this.sql`SELECT pg_notify(${this.channel}, p) FROM unnest(${encodeNotes(this.instance, notes)}::text[]) AS p`;
    this.listening = await this.sql.listen(this.channel, (payload) => this.heard(payload), () => this.resync("listening"));
    this.poll = setInterval(() => this.resync("poll"), this.options.pollIntervalMs ?? 1500);
    this.poll.unref?.();
  }

  async submit(tasks: readonly NewTask[], nowMs: number): Promise<SubmitOutcome[]> {
    this.assertOpen();
    return this.group.add(submitBatch, { tasks, nowMs });
  }

  async claim(request: ClaimRequest): Promise<Lease[]> {
    this.assertOpen();
    if (request.max <= 0) return [];
    return this.group.add(this.claimKind, request);
  }

  async renew(leases: readonly LeaseRef[], nowMs: number): Promise<(number | null)[]> {
    this.assertOpen();
    if (leases.length === 0) return [];
    return this.group.add(this.renewKind, { refs: leases, nowMs });
  }

  async report(items: readonly ReportItem[], nowMs: number): Promise<ReportItemResult[]> {
    this.assertOpen();
    if (items.length === 0) return [];
    return this.group.add(this.reportKind, { items, nowMs });
  }

  async release(leases: readonly LeaseRef[], nowMs: number): Promise<void> {
    this.assertOpen();
    if (leases.length === 0) return;
    await this.group.run((tx, notes) => releaseLeases(tx, notes, leases, nowMs, this.cipher!));
  }

  async reclaimWorker(workerId: string, countAttempt: boolean, nowMs: number): Promise<string[]> {
    this.assertOpen();
    return this.group.run((tx, notes) => reclaimWorkerLeases(tx, notes, workerId, countAttempt, nowMs));
  }

  async cancel(id: string, nowMs: number): Promise<CancelOutcome> {
    this.assertOpen();
    return this.group.run((tx, notes) => cancelTask(tx, notes, id, nowMs, this.cipher!));
  }

  async retry(id: string, nowMs: number): Promise<Task> {
    this.assertOpen();
    return this.group.run((tx, notes) => rerunTask(tx, notes, id, nowMs));
  }

  async delete(id: string, _nowMs: number): Promise<Task> {
    this.assertOpen();
    return this.group.run((tx, notes) => deleteTask(tx, notes, id));
  }

  async runs(id: string): Promise<TaskRun[]> {
    this.assertOpen();
    return this.read(async () => {
      const row = await getRow(this.sql, id);
      return row === null ? [] : runsOf(this.sql, row);
    });
  }

  async readyAhead(id: string): Promise<ReadyAhead | null> {
    this.assertOpen();
    return this.read(() => readyAhead(this.sql, id));
  }

  async count(filter: TaskFilter): Promise<number> {
    this.assertOpen();
    return this.read(() => countMatching(this.sql, filter));
  }

  async runningByWorker(): Promise<Map<string, number>> {
    this.assertOpen();
    return this.read(async () => {
      const rows = (await this.sql`SELECT worker_id, count(*)::int AS n FROM tasks WHERE status = 'in_progress' GROUP BY worker_id`) as { worker_id: string; n: number }[];
      return new Map(rows.map((r) => [r.worker_id, r.n]));
    });
  }

  /** Durable and cluster-wide: every broker hears of it (the paused event) and stops serving the queue. */
  async setPaused(queue: string, paused: boolean, nowMs: number): Promise<void> {
    this.assertOpen();
    await this.group.run(async (tx, notes) => {
      if (paused) await tx`INSERT INTO paused_queues (queue, paused_at) VALUES (${queue}, ${nowMs}) ON CONFLICT (queue) DO NOTHING`;
      else await tx`DELETE FROM paused_queues WHERE queue = ${queue}`;
      notes.pauses.push([queue, paused]);
    });
  }

  async pausedQueues(): Promise<string[]> {
    this.assertOpen();
    return this.read(async () => ((await this.sql`SELECT queue FROM paused_queues ORDER BY queue`) as { queue: string }[]).map((r) => r.queue));
  }

  async get(id: string): Promise<Task | null> {
    this.assertOpen();
    return this.read(() => getTask(this.sql, id));
  }

  async list(request: ListRequest): Promise<ListPage> {
    this.assertOpen();
    return this.read(() => listTasks(this.sql, request));
  }

  /** Reads first (the idle tick of every broker every second costs one indexed read); writes only when something is due. */
  async tick(nowMs: number): Promise<TickOutcome> {
    this.assertOpen();
    const due = await this.read(() => nextDueMs(this.sql));
    if (due === null || due > nowMs) return { promoted: 0, expired: 0, expiredLeases: [], nextDueMs: due };
    return this.group.run(async (tx, notes) => ({ ...(await tickWrites(tx, notes, nowMs, () => this.cipher!)), nextDueMs: await nextDueMs(tx) }));
  }

  async purgeFinished(beforeMs: number, limit: number): Promise<PurgeStep> {
    this.assertOpen();
    return this.read(() => purgeFinished(this.sql, beforeMs, limit));
  }

  async counts(): Promise<TaskCounts> {
    this.assertOpen();
    return this.read(() => countTasks(this.sql));
  }

  async pendingCount(): Promise<number> {
    this.assertOpen();
    return this.read(() => this.pending.get());
  }

  /** A write that proves the database takes work: this broker's sign of life in the brokers table. */
  async ping(): Promise<void> {
    this.assertOpen();
    await this.read(() => this.signOfLife());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.poll !== null) clearInterval(this.poll);
    await this.group.settled();
    await this.presence.flush();
    await this.listening?.unlisten().catch(() => undefined);
    await this.sql.close({ timeout: 5 });
  }

  // ---- the cluster side (WorkerPresence) -------------------------------------------------

  workerSeen(workerId: string, nowMs: number): void {
    if (!this.closed) this.presence.workerSeen(workerId, nowMs);
  }

  workerSeenElsewhere(workerId: string, sinceMs: number): Promise<boolean> {
    return this.presence.workerSeenElsewhere(workerId, sinceMs);
  }

  workerGone(workerId: string): void {
    if (!this.closed) this.presence.workerGone(workerId);
  }

  async forwardWorkerCommand(workerId: string, command: Exclude<WorkerCommand, "none">, seenSinceMs: number): Promise<string | null> {
    this.assertOpen();
    return this.read(async () => {
      const seen = await this.presence.lastSeen(workerId);
      if (seen === null || seen.nodeId === this.options.nodeId || seen.seenAtMs < seenSinceMs) return null;
      await this.sql`SELECT pg_notify(${this.channel}, ${encodeWorkerCommand(this.instance, { workerId, command, nodeId: seen.nodeId })})`;
      return seen.nodeId;
    });
  }

  // ---- inside ------------------------------------------------------------------------------

  private committed(notes: TxNotes, ops: number, commitMs: number): void {
    this.pending.add(notes.pendingDelta);
    const events = this.options.events ?? {};
    this.tell("ready", () => {
      for (const [queue, count] of notes.ready) events.ready?.(queue, count);
    });
    if (notes.ends.length > 0) this.tell("finished", () => events.finished?.(notes.ends, false));
    if (notes.dueMs !== null) this.tell("due", () => events.due?.(notes.dueMs!));
    this.tell("onCommit", () => this.options.onCommit?.(ops, commitMs));
  }

  /** A notification from the channel: another broker's commit. */
  private heard(payload: string): void {
    const message = decodeNotes(payload);
    if (message === null || message.from === this.instance || this.closed) return;
    const events = this.options.events ?? {};
    this.tell("ready", () => {
      for (const [queue, count] of message.ready) events.ready?.(queue, count);
    });
    if (message.ends.length > 0) this.tell("finished", () => events.finished?.(message.ends, true));
    // This broker's own pauses are the broker's to apply; another broker's come this way.
    for (const [queue, paused] of message.pauses) this.tell("paused", () => events.paused?.(queue, paused));
    for (const c of message.commands) {
      if (c.nodeId === this.options.nodeId) this.tell("workerCommand", () => events.workerCommand?.(c.workerId, c.command));
    }
  }

  /**
   * The safety net: every queue holding ready tasks is announced, as notifications sent while
   * the listener was reconnecting are lost. Also writes the workers' signs of life.
   */
  private resync(why: "listening" | "poll"): void {
    if (this.closed) return;
    void this.presence.flush();
    if (why === "poll") {
      this.polls++;
      if (this.polls % POLLS_PER_SIGN_OF_LIFE === 0) void this.signOfLife().catch(() => undefined);
      if (this.polls % POLLS_PER_SWEEP === 0) void this.presence.forgetOld(Date.now()).catch(() => undefined);
    }
    readyQueues(this.sql, POLL_READY_CAP).then(
      (queues) => {
        if (this.closed) return;
        const events = this.options.events ?? {};
        this.tell("ready", () => {
          for (const [queue, count] of queues) events.ready?.(queue, count);
        });
      },
      (err: unknown) => this.log("poll of ready queues failed", { why, error: String(err) }),
    );
  }

  /**
   * Writes this run's row in the brokers table. The row held another run's instance: at start,
   * that was this node's earlier run (maybe crashed seconds ago, not a reason to warn); after
   * that, another broker is running with the same node id and wrote it since (both warn).
   */
  private async signOfLife(atStart = false): Promise<void> {
    const now = Date.now();
    const [row] = (await this.sql`
      WITH prev AS (SELECT instance FROM brokers WHERE node_id = ${this.options.nodeId})
      INSERT INTO brokers (node_id, instance, started_at, seen_at) VALUES (${this.options.nodeId}, ${this.instance}, ${now}, ${now})
      ON CONFLICT (node_id) DO UPDATE SET instance = excluded.instance, seen_at = excluded.seen_at,
        started_at = CASE WHEN brokers.instance = excluded.instance THEN brokers.started_at ELSE excluded.started_at END
      RETURNING (SELECT instance FROM prev) AS previous`) as { previous: string | null }[];
    const previous = row?.previous ?? null;
    if (atStart || previous === null || previous === this.instance || this.twinWarned) return;
    this.twinWarned = true;
    this.log("another broker is running with this node id: give every broker its own raft.node_id", { node_id: this.options.nodeId });
  }

  private async checkClock(): Promise<void> {
    const [row] = (await this.sql`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now`) as { now: string }[];
    const skew = Date.now() - Number(row!.now);
    if (Math.abs(skew) > MAX_CLOCK_SKEW_MS) {
      this.log("this machine's clock differs from the database's: leases and delays follow each broker's clock, keep them in step (NTP)", { skew_ms: skew });
    }
  }

  /** A read or a direct write: a database that cannot be reached is StorageUnavailable. */
  private async read<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof BrokerError) throw err;
      throw storageUnavailable(err);
    }
  }

  private tell(listener: string, call: () => void): void {
    try {
      call();
    } catch (err) {
      this.log(`${listener} listener threw`, { error: String(err) });
    }
  }

  private log(message: string, fields?: Record<string, unknown>, level: "info" | "warn" = "warn"): void {
    this.options.log?.(message, fields, level);
  }

  private assertOpen(): void {
    if (this.closed) throw new BrokerError(ErrorCode.ShuttingDown, "the store is closed");
  }
}

export function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  return PostgresStore.open(options);
}
