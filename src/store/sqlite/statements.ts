// Every SQL statement of the SQLite store, prepared once at open. SQL text and binding: which
// statement runs when is decided by sqlite-store.ts and the modules it calls. Whole task rows come
// back through CheckedRows, so no caller is ever handed a row that fails its checksums.

import type { Database, SQLQueryBindings, Statement } from "bun:sqlite";
import type { TaskRow } from "./task-row.ts";
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
                                       idempotency_key, created_at, updated_at, fixed_crc, state_crc)`;
const INSERT_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/** Parameters of one INSERT_ROW. */
export const INSERT_PARAMS = 15;
/** Rows per multi-row INSERT: one statement step for many rows measured ~40% cheaper per row. */
export const INSERT_BATCH_ROWS = 64;
/**
 * Most rows one claim read or completion UPDATE names. Each statement run costs ~2.5 us in
 * bun:sqlite whatever it does: per row, a read by seq measured 3.5 us alone and 0.9 us 100 at a
 * time; a completion 4.1 us alone and 2.3 us 100 at a time.
 */
export const MANY_ROWS = 64;
// A leased row is still pending in the file (leases live in memory): the run's worker and start
// are written with its outcome. One text for one row (?1-?7) and for many (v.column1-7). flags and
// state_crc come from the lease (row-checksum.ts), not from the row on disk.
const completeSet = (result: string, flags: string, finishedAt: string, workerId: string, startedAt: string, stateCrc: string): string =>
  `status = ${S.completed}, result = ${result}, flags = ${flags}, error = NULL,
   finished_at = ${finishedAt}, updated_at = ${finishedAt}, worker_id = ${workerId}, started_at = ${startedAt}, state_crc = ${stateCrc}`;

/**
 * A statement that returns whole task rows, each checked by `passes` (the row's checksums) before
 * anyone sees it: a row that fails reads as absent, and `passes` reports it for quarantine.
 */
export class CheckedRows {
  constructor(
    private readonly stmt: Statement<TaskRow>,
    private readonly passes: (row: TaskRow) => boolean,
  ) {}

  get(...params: SQLQueryBindings[]): TaskRow | null {
    const row = this.stmt.get(...params);
    return row === null || this.passes(row) ? row : null;
  }

  all(...params: SQLQueryBindings[]): TaskRow[] {
    return this.stmt.all(...params).filter((row) => this.passes(row));
  }

  /** all(), with how many rows were read and the last one, checked or not (pages go on from there). */
  allCounting(...params: SQLQueryBindings[]): { rows: TaskRow[]; read: number; last: TaskRow | null } {
    const read = this.stmt.all(...params);
    return { rows: read.filter((row) => this.passes(row)), read: read.length, last: read[read.length - 1] ?? null };
  }
}

export class Statements {
  readonly insert: Statement;
  readonly byKey: Statement<{ id: Uint8Array; seq: number; status: number }>;
  readonly byId: CheckedRows;
  readonly bySeq: CheckedRows;
  /** The rows with seq in [?1, ?2]: a claim of consecutive seqs reads them in one range. */
  readonly claimRange: CheckedRows;
  readonly complete: Statement;
  readonly fail: Statement;
  readonly expire: Statement;
  readonly cancel: Statement<TaskRow>;
  readonly cancelLeased: Statement<TaskRow>;
  readonly retry: Statement<TaskRow>;
  readonly promote: Statement;
  readonly purgeDeadOrCancelled: Statement<{ queue: string; status: number }>;
  readonly purgeScan: Statement;
  readonly deleteSeq: Statement;
  readonly reserveTokens: Statement;
  readonly reservedTokens: Statement<{ value: number }>;
  readonly metaValue: Statement<{ value: number }>;
  readonly addMeta: Statement;
  readonly inProgress: CheckedRows;
  readonly requeue: Statement;
  readonly loadPending: Statement;
  readonly loadPendingByScan: Statement;
  readonly pendingShare: Statement<{ pending: number; span: number }>;
  readonly loadWaiting: Statement;
  readonly finishedQueues: Statement<{ queue: string }>;
  readonly insertRun: Statement;
  readonly runsOf: Statement<{ worker_id: string; started_at: number; ended_at: number; outcome: number; error: string | null }>;
  readonly pauseQueue: Statement;
  readonly resumeQueue: Statement;
  readonly pausedQueues: Statement<{ queue: string }>;
  /** Every SQL text prepared so far: the query-plan test checks each one uses the index it should. */
  readonly sqlTexts: string[] = [];
  private readonly lists = new Map<string, CheckedRows>();
  private readonly counts = new Map<string, Statement<{ n: number }>>();
  private readonly windows = new Map<string, Statement<{ k: number; seq: number }>>();
  private readonly inserts = new Map<number, Statement>();
  private readonly claimReads = new Map<number, CheckedRows>();
  private readonly completions = new Map<number, Statement>();

  /** `passes` checks each whole row read (row-checksum.ts) and reports one that fails. */
  constructor(
    private readonly db: Database,
    private readonly passes: (row: TaskRow) => boolean,
  ) {
    this.insert = this.prep(`${INSERT_HEAD} VALUES ${INSERT_ROW}`);
    this.byKey = this.prep("SELECT id, seq, status FROM tasks WHERE idempotency_key = ?");
    this.byId = this.checked("SELECT * FROM tasks WHERE id = ?");
    this.bySeq = this.checked("SELECT * FROM tasks WHERE seq = ?");
    this.claimRange = this.checked("SELECT * FROM tasks WHERE seq >= ?1 AND seq <= ?2");
    // Every UPDATE below sets state_crc, computed by the caller from the values it writes and
    // values it knows (the lease, or the row it read and checked): see row-checksum.ts.
    // One completion: the parameters of one completeRows row, (seq, result, flags, finishedAt, workerId, startedAt, stateCrc).
    this.complete = this.prep(`UPDATE tasks SET ${completeSet("?2", "?3", "?4", "?5", "?6", "?7")} WHERE seq = ?1`);
    this.fail = this.prep(
      `UPDATE tasks SET status = ?1, attempts = ?2, error = ?3, run_at = ?4, finished_at = ?5,
                        updated_at = ?6, worker_id = ?8, started_at = ?9, state_crc = ?10
       WHERE seq = ?7`,
    );
    this.expire = this.prep(
      `UPDATE tasks SET attempts = ?1, status = ?2, finished_at = ?3, error = ?4, updated_at = ?5,
                        worker_id = ?6, started_at = ?7, state_crc = ?8
       WHERE seq = ?9`,
    );
    this.cancel = this.prep(
      `UPDATE tasks SET status = ${S.cancelled}, finished_at = ?1, updated_at = ?1, state_crc = ?3 WHERE seq = ?2 RETURNING *`,
    );
    // A running task: its row is pending in the file (leases live in memory); it keeps who ran it.
    this.cancelLeased = this.prep(
      `UPDATE tasks SET status = ${S.cancelled}, finished_at = ?1, updated_at = ?1, worker_id = ?3, started_at = ?4, state_crc = ?5 WHERE seq = ?2 RETURNING *`,
    );
    this.retry = this.prep(
      `UPDATE tasks SET status = ${S.pending}, attempts = 0, run_at = NULL, finished_at = NULL, updated_at = ?1, state_crc = ?3
       WHERE seq = ?2 RETURNING *`,
    );
    // The caller read the row (bySeq) and found it due; the guard repeats that, cheaply.
    this.promote = this.prep(
      `UPDATE tasks SET status = ${S.pending}, updated_at = ?1, state_crc = ?3
       WHERE seq = ?2 AND status IN (${S.scheduled}, ${S.failed}) AND run_at <= ?1`,
    );
    // Dead and cancelled rows are few and in the open index; completed rows are in no index but
    // the id's, so retention finds them by walking seq order (purgeScan) and deletes them by seq.
    // RETURNING: what was deleted leaves the finished counts (memory-state.ts).
    this.purgeDeadOrCancelled = this.prep(
      `DELETE FROM tasks WHERE seq IN (
         SELECT seq FROM tasks WHERE status IN (${S.dead}, ${S.cancelled}) AND ${OPEN} AND finished_at < ?1 LIMIT ?2)
       RETURNING queue, status`,
    );
    this.purgeScan = this.prep(`SELECT seq, status, finished_at, created_at, queue FROM tasks WHERE seq > ?1 ORDER BY seq LIMIT ?2`);
    this.deleteSeq = this.prep("DELETE FROM tasks WHERE seq = ?");
    this.reserveTokens = this.prep("UPDATE meta SET value = ? WHERE key = 'lease_token_reserved'");
    this.reservedTokens = this.prep("SELECT value FROM meta WHERE key = 'lease_token_reserved'");
    this.metaValue = this.prep("SELECT value FROM meta WHERE key = ?");
    this.addMeta = this.prep("INSERT INTO meta (key, value) VALUES (?, ?)");
    // Leases are never written any more; these only clear in_progress rows left by earlier builds.
    this.inProgress = this.checked(`SELECT * FROM tasks WHERE status = ${S.in_progress} AND ${OPEN}`);
    this.requeue = this.prep(`UPDATE tasks SET status = ${S.pending}, updated_at = ?1, state_crc = ?2 WHERE seq = ?3`);
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
    // The queue of each finished row of one status, streamed (iterate): counts after a reload.
    this.finishedQueues = this.prep(`SELECT queue FROM tasks WHERE status = ?1 AND finished_at IS NOT NULL`);
    this.insertRun = this.prep("INSERT INTO task_runs (seq, worker_id, started_at, ended_at, outcome, error) VALUES (?, ?, ?, ?, ?, ?)");
    this.runsOf = this.prep("SELECT worker_id, started_at, ended_at, outcome, error FROM task_runs WHERE seq = ? ORDER BY rowid DESC LIMIT ?");
    this.pauseQueue = this.prep("INSERT INTO paused_queues (queue, paused_at) VALUES (?, ?) ON CONFLICT (queue) DO NOTHING");
    this.resumeQueue = this.prep("DELETE FROM paused_queues WHERE queue = ?");
    this.pausedQueues = this.prep("SELECT queue FROM paused_queues ORDER BY queue");
  }

  private prep<T = unknown>(sql: string): Statement<T> {
    this.sqlTexts.push(sql);
    return this.db.prepare(sql) as Statement<T>;
  }

  private checked(sql: string): CheckedRows {
    return new CheckedRows(this.prep<TaskRow>(sql), this.passes);
  }

  /** The rows of `rows` seqs (a power of two up to MANY_ROWS; pad with 0, a seq no row has), in any order. */
  claimRows(rows: number): CheckedRows {
    let stmt = this.claimReads.get(rows);
    if (stmt === undefined) {
      stmt = this.checked(`SELECT * FROM tasks WHERE seq IN (${Array.from({ length: rows }, () => "?").join(", ")})`);
      this.claimReads.set(rows, stmt);
    }
    return stmt;
  }

  /**
   * complete for `rows` rows of (seq, result, flags, finishedAt, workerId, startedAt, stateCrc) (a
   * power of two up to MANY_ROWS; pad with seq 0). The seqs must be distinct.
   */
  completeRows(rows: number): Statement {
    return (
      this.completions.get(rows) ??
      this.remember(
        this.completions,
        rows,
        `UPDATE tasks SET ${completeSet("v.column2", "v.column3", "v.column4", "v.column5", "v.column6", "v.column7")}
         FROM (VALUES ${Array.from({ length: rows }, () => "(?, ?, ?, ?, ?, ?, ?)").join(", ")}) AS v WHERE tasks.seq = v.column1`,
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
   * A page of a list (list-pages.ts): rows of `kind` between the cursor and the window's end, in
   * `order`, filtered. Parameters: ?1 (and ?9) the cursor, ?2 status, ?3 queue, ?4 type, ?5 worker,
   * ?6 updated before, ?7 (and ?10) the window's end, ?8 limit; a filter bound to NULL is off.
   * At most 6 shapes, each prepared once.
   */
  listRows(kind: ListKind, order: "asc" | "desc"): CheckedRows {
    const key = `${kind}.${order}`;
    let stmt = this.lists.get(key);
    if (stmt === undefined) {
      stmt = this.checked(`SELECT * FROM tasks WHERE ${listWhere(kind, order)} ORDER BY ${listOrder(kind, order)} LIMIT ?8`);
      this.lists.set(key, stmt);
    }
    return stmt;
  }

  /** How many rows of `kind` in an ascending window match the filters; parameters as listRows (no ?8). */
  listCount(kind: ListKind): Statement<{ n: number }> {
    const key = `${kind}.count`;
    let stmt = this.counts.get(key);
    if (stmt === undefined) {
      stmt = this.prep<{ n: number }>(`SELECT count(*) AS n FROM tasks WHERE ${listWhere(kind, "asc")}`);
      this.counts.set(key, stmt);
    }
    return stmt;
  }

  /**
   * Where a list window ends: the key of the ?2-th index entry of `kind` after the cursor (?1, and
   * ?4 for finished rows), status ?3; no row when fewer are left. Reads the index only.
   */
  listWindow(kind: ListKind, order: "asc" | "desc"): Statement<{ k: number; seq: number }> {
    const key = `${kind}.${order}`;
    let stmt = this.windows.get(key);
    if (stmt === undefined) {
      const after = order === "asc" ? ">" : "<";
      const dir = order === "asc" ? "" : " DESC";
      const sql =
        kind === "finished"
          ? `SELECT finished_at AS k, seq FROM tasks WHERE status = ?3 AND finished_at IS NOT NULL AND (finished_at, seq) ${after} (?1, ?4)
             ORDER BY finished_at${dir}, seq${dir} LIMIT 1 OFFSET ?2`
          : `SELECT seq AS k, seq FROM tasks WHERE ${kind === "open" ? `status = ?3 AND ${OPEN} AND ` : "?3 IS NULL AND "}seq ${after} ?1
             ORDER BY seq${dir} LIMIT 1 OFFSET ?2`;
      stmt = this.prep<{ k: number; seq: number }>(sql);
      this.windows.set(key, stmt);
    }
    return stmt;
  }
}

/**
 * Rows a list reads through: "open" rows of one status (not completed) by seq in the open index,
 * "finished" rows of one status (completed, dead, cancelled) by finish time in tasks_finished,
 * "any" status by seq in the table itself.
 */
export type ListKind = "any" | "open" | "finished";

const LIST_FILTERS = "(?3 IS NULL OR queue = ?3) AND (?4 IS NULL OR type = ?4) AND (?5 IS NULL OR worker_id = ?5) AND (?6 IS NULL OR updated_at < ?6)";

function listWhere(kind: ListKind, order: "asc" | "desc"): string {
  const [after, upTo] = order === "asc" ? [">", "<="] : ["<", ">="];
  if (kind === "finished") {
    return `status = ?2 AND finished_at IS NOT NULL AND (finished_at, seq) ${after} (?1, ?9) AND (finished_at, seq) ${upTo} (?7, ?10) AND ${LIST_FILTERS}`;
  }
  const status = kind === "open" ? `status = ?2 AND ${OPEN} AND ` : "?2 IS NULL AND ";
  return `${status}seq ${after} ?1 AND seq ${upTo} ?7 AND ?9 IS NULL AND ?10 IS NULL AND ${LIST_FILTERS}`;
}

function listOrder(kind: ListKind, order: "asc" | "desc"): string {
  const dir = order === "asc" ? "" : " DESC";
  return kind === "finished" ? `finished_at${dir}, seq${dir}` : `seq${dir}`;
}

/** The statement size for `n` rows: the next power of two, at most MANY_ROWS. */
export function manyRowsSize(n: number): number {
  let size = 1;
  while (size < n && size < MANY_ROWS) size *= 2;
  return size;
}
