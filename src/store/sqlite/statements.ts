// Every SQL statement of the SQLite store, prepared once at open. Pure SQL text and binding:
// which statement runs when is decided by sqlite-store.ts and the modules it calls.

import type { Database, Statement } from "bun:sqlite";
import type { ClaimRow, TaskRow } from "./task-row.ts";
import { STATUS } from "./task-row.ts";

const S = STATUS;
/**
 * The WHERE term of the partial index tasks_open_status_seq (schema migration 2), written exactly
 * as there: SQLite uses a partial index only for queries that repeat its condition verbatim.
 */
const OPEN = `status <> ${S.completed}`;
/** Rows one retention step reads while walking seq order for completed rows. */
export const PURGE_SCAN_ROWS = 512;

const INSERT_HEAD = `INSERT INTO tasks (id, type, queue, payload, flags, priority, status, run_at, max_retries, lease_ms,
                                       idempotency_key, created_at, updated_at)`;
const INSERT_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/** Rows per multi-row INSERT: one statement step for many rows measured ~40% cheaper per row. */
export const INSERT_BATCH_ROWS = 64;
/**
 * Most rows one claim read or completion UPDATE names. Each statement run costs ~2.5 us in
 * bun:sqlite whatever it does: per row, a read by seq measured 3.5 us alone and 0.9 us 100 at a
 * time; a completion 4.1 us alone and 2.3 us 100 at a time.
 */
export const MANY_ROWS = 64;
// What a claim hands out: a pending row's outcome columns are empty, and each column read is a
// property on a fresh object (22 of them cost ~1 us more per claimed task).
const CLAIM_COLUMNS = `seq, id, type, queue, payload, flags, priority, status, run_at, attempts, max_retries, lease_ms,
              idempotency_key, error, created_at, updated_at`;
// A leased row is still pending in the file (leases live in memory): the run's worker and start
// are written with its outcome. One text for one row (?1-?6) and for many (v.column1-6).
const completeSet = (result: string, flags: string, finishedAt: string, workerId: string, startedAt: string): string =>
  `status = ${S.completed}, result = ${result}, flags = (flags & ~2) | ${flags}, error = NULL, lease_expires_at = NULL,
   finished_at = ${finishedAt}, updated_at = ${finishedAt}, worker_id = ${workerId}, started_at = ${startedAt}`;

export class Statements {
  readonly insert: Statement;
  readonly byKey: Statement<{ id: Uint8Array; status: number }>;
  readonly byId: Statement<TaskRow>;
  readonly bySeq: Statement<TaskRow>;
  readonly complete: Statement;
  readonly attemptsOf: Statement<{ attempts: number; max_retries: number }>;
  readonly fail: Statement;
  readonly expire: Statement<{ status: number; priority: number }>;
  readonly cancel: Statement<TaskRow>;
  readonly cancelLeased: Statement<TaskRow>;
  readonly retry: Statement<TaskRow>;
  readonly promote: Statement;
  readonly placeOf: Statement<{ queue: string; priority: number }>;
  readonly purgeDeadOrCancelled: Statement;
  readonly purgeScan: Statement;
  readonly deleteSeq: Statement;
  readonly reserveTokens: Statement;
  readonly reservedTokens: Statement<{ value: number }>;
  readonly metaValue: Statement<{ value: number }>;
  readonly addMeta: Statement;
  readonly requeueInProgress: Statement;
  readonly loadPending: Statement;
  readonly loadPendingByScan: Statement;
  readonly pendingShare: Statement<{ pending: number; span: number }>;
  readonly loadWaiting: Statement;
  /** Every SQL text prepared so far: the query-plan test checks each one uses the index it should. */
  readonly sqlTexts: string[] = [];
  private readonly lists = new Map<string, Statement<TaskRow>>();
  private readonly inserts = new Map<number, Statement>();
  private readonly claimReads = new Map<number, Statement<ClaimRow>>();
  private readonly completions = new Map<number, Statement>();

  constructor(private readonly db: Database) {
    this.insert = this.prep(`${INSERT_HEAD} VALUES ${INSERT_ROW}`);
    this.byKey = this.prep("SELECT id, status FROM tasks WHERE idempotency_key = ?");
    this.byId = this.prep("SELECT * FROM tasks WHERE id = ?");
    this.bySeq = this.prep("SELECT * FROM tasks WHERE seq = ?");
    // One completion: the parameters of one completeRows row, (seq, result, flags, finishedAt, workerId, startedAt).
    this.complete = this.prep(`UPDATE tasks SET ${completeSet("?2", "?3", "?4", "?5", "?6")} WHERE seq = ?1`);
    this.attemptsOf = this.prep("SELECT attempts, max_retries FROM tasks WHERE seq = ?");
    this.fail = this.prep(
      `UPDATE tasks SET status = ?1, attempts = ?2, error = ?3, run_at = ?4, finished_at = ?5,
                        lease_expires_at = NULL, updated_at = ?6, worker_id = ?8, started_at = ?9
       WHERE seq = ?7`,
    );
    // SET expressions read the old row, so attempts + 1 is the attempt being counted now.
    this.expire = this.prep(
      `UPDATE tasks SET attempts = attempts + 1,
                        status = CASE WHEN attempts + 1 > max_retries THEN ${S.dead} ELSE ${S.pending} END,
                        finished_at = CASE WHEN attempts + 1 > max_retries THEN ?1 ELSE NULL END,
                        error = ?2, lease_expires_at = NULL, updated_at = ?1, worker_id = ?4, started_at = ?5
       WHERE seq = ?3 RETURNING status, priority`,
    );
    this.cancel = this.prep(
      `UPDATE tasks SET status = ${S.cancelled}, finished_at = ?1, updated_at = ?1 WHERE seq = ?2 RETURNING *`,
    );
    // A running task: its row is pending in the file (leases live in memory); it keeps who ran it.
    this.cancelLeased = this.prep(
      `UPDATE tasks SET status = ${S.cancelled}, finished_at = ?1, updated_at = ?1, worker_id = ?3, started_at = ?4 WHERE seq = ?2 RETURNING *`,
    );
    this.retry = this.prep(
      `UPDATE tasks SET status = ${S.pending}, attempts = 0, run_at = NULL, finished_at = NULL, updated_at = ?1
       WHERE seq = ?2 RETURNING *`,
    );
    // The guard makes a heap entry left over from an earlier schedule of the same task harmless.
    this.promote = this.prep(
      `UPDATE tasks SET status = ${S.pending}, updated_at = ?1
       WHERE seq = ?2 AND status IN (${S.scheduled}, ${S.failed}) AND run_at <= ?1`,
    );
    this.placeOf = this.prep("SELECT queue, priority FROM tasks WHERE seq = ?");
    // Dead and cancelled rows are few and in the open index; completed rows are in no index but
    // the id's, so retention finds them by walking seq order (purgeScan) and deletes them by seq.
    this.purgeDeadOrCancelled = this.prep(
      `DELETE FROM tasks WHERE seq IN (
         SELECT seq FROM tasks WHERE status IN (${S.dead}, ${S.cancelled}) AND ${OPEN} AND finished_at < ?1 LIMIT ?2)`,
    );
    this.purgeScan = this.prep(`SELECT seq, status, finished_at, created_at FROM tasks WHERE seq > ?1 ORDER BY seq LIMIT ?2`);
    this.deleteSeq = this.prep("DELETE FROM tasks WHERE seq = ?");
    this.reserveTokens = this.prep("UPDATE meta SET value = ? WHERE key = 'lease_token_reserved'");
    this.reservedTokens = this.prep("SELECT value FROM meta WHERE key = 'lease_token_reserved'");
    this.metaValue = this.prep("SELECT value FROM meta WHERE key = ?");
    this.addMeta = this.prep("INSERT INTO meta (key, value) VALUES (?, ?)");
    // Leases are never written any more; this only clears in_progress rows left by earlier builds.
    this.requeueInProgress = this.prep(
      `UPDATE tasks SET status = ${S.pending}, lease_expires_at = NULL, updated_at = ? WHERE status = ${S.in_progress} AND ${OPEN}`,
    );
    // Chunked by seq so recovery of millions of rows never materialises them all at once. Through
    // the status index when pending rows are a minority; when they are most of the table, reading
    // the table in rowid order skips a b-tree descent per row (measured ~30% faster for 1M).
    this.loadPending = this.prep(
      `SELECT seq, queue, priority, updated_at FROM tasks WHERE status = ${S.pending} AND ${OPEN} AND seq > ? ORDER BY seq LIMIT ?`,
    );
    this.loadPendingByScan = this.prep(
      `SELECT seq, queue, priority, updated_at FROM tasks NOT INDEXED WHERE seq > ? AND status = ${S.pending} ORDER BY seq LIMIT ?`,
    );
    this.pendingShare = this.prep(
      // Separate subqueries for max and min: combined in one expression they defeat the rowid shortcut.
      `SELECT (SELECT count(*) FROM tasks WHERE status = ${S.pending} AND ${OPEN}) AS pending,
              coalesce((SELECT max(seq) FROM tasks) - (SELECT min(seq) FROM tasks) + 1, 0) AS span`,
    );
    // One status at a time: with IN (scheduled, failed) the planner sorts every waiting row per chunk.
    this.loadWaiting = this.prep(`SELECT seq, queue, run_at FROM tasks WHERE status = ?1 AND ${OPEN} AND seq > ?2 ORDER BY seq LIMIT ?3`);
  }

  private prep<T = unknown>(sql: string): Statement<T> {
    this.sqlTexts.push(sql);
    return this.db.prepare(sql) as Statement<T>;
  }

  /** The claim columns of `rows` seqs' rows (a power of two up to MANY_ROWS; pad with 0, a seq no row has), in any order. */
  claimRows(rows: number): Statement<ClaimRow> {
    return (
      this.claimReads.get(rows) ??
      this.remember(this.claimReads, rows, `SELECT ${CLAIM_COLUMNS} FROM tasks WHERE seq IN (${Array.from({ length: rows }, () => "?").join(", ")})`)
    );
  }

  /**
   * complete for `rows` rows of (seq, result, flags, finishedAt, workerId, startedAt) (a power of
   * two up to MANY_ROWS; pad with seq 0). The seqs must be distinct.
   */
  completeRows(rows: number): Statement {
    return (
      this.completions.get(rows) ??
      this.remember(
        this.completions,
        rows,
        `UPDATE tasks SET ${completeSet("v.column2", "v.column3", "v.column4", "v.column5", "v.column6")}
         FROM (VALUES ${Array.from({ length: rows }, () => "(?, ?, ?, ?, ?, ?)").join(", ")}) AS v WHERE tasks.seq = v.column1`,
      )
    );
  }

  /**
   * INSERT of `rows` rows (1..INSERT_BATCH_ROWS), each prepared once. Rows of one statement get
   * consecutive rowids (max+1 each, no AUTOINCREMENT), so the last one's rowid gives them all.
   */
  insertRows(rows: number): Statement {
    if (rows === 1) return this.insert;
    return this.inserts.get(rows) ?? this.remember(this.inserts, rows, `${INSERT_HEAD} VALUES ${Array.from({ length: rows }, () => INSERT_ROW).join(", ")}`);
  }

  /** Prepares `sql` as the statement for `rows` rows in `statements` (the SQL text is only built on a miss). */
  private remember<T>(statements: Map<number, Statement<T>>, rows: number, sql: string): Statement<T> {
    const stmt = this.prep<T>(sql);
    statements.set(rows, stmt);
    return stmt;
  }

  /**
   * A list query for this combination of filters (at most 12 shapes, each prepared once). A status
   * other than completed goes through the open index; completed rows, in no status index, are read
   * in seq order and filtered.
   */
  list(status: "any" | "open" | "completed", hasQueue: boolean, hasType: boolean): Statement<TaskRow> {
    const key = `${status}${+hasQueue}${+hasType}`;
    let stmt = this.lists.get(key);
    if (stmt === undefined) {
      const where = ["seq > ?1"];
      if (status === "open") where.push(`status = ?2 AND ${OPEN}`);
      if (status === "completed") where.push("status = ?2");
      if (hasQueue) where.push("queue = ?3");
      if (hasType) where.push("type = ?4");
      stmt = this.prep(`SELECT * FROM tasks WHERE ${where.join(" AND ")} ORDER BY seq LIMIT ?5`);
      this.lists.set(key, stmt);
    }
    return stmt;
  }
}

/** The statement size for `n` rows: the next power of two, at most MANY_ROWS. */
export function manyRowsSize(n: number): number {
  let size = 1;
  while (size < n && size < MANY_ROWS) size *= 2;
  return size;
}
