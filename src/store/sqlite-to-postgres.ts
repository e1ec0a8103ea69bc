// `tq-broker migrate`: copies one broker's SQLite queue (persistence.data_dir/tq.db) into a
// PostgreSQL schema that several brokers can share. Holds the data dir's lock for the whole copy
// (a broker running on it makes this refuse, and none can start meanwhile), reads the file as it
// is, rows checked against their checksums, and writes everything in ONE transaction: a failure
// leaves PostgreSQL as it was. Ids, idempotency keys, priorities, run-at times, attempts, results,
// times and run histories are kept; a row whose id (or idempotency key) PostgreSQL already holds is
// left alone, so a second run copies nothing twice. Knows both schemas; no queue rules here.

import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { SQL } from "bun";
import { uuidToString } from "../protocol/uuid.ts";
import { RUN_OUTCOMES, type TaskStatus } from "../rules/task.ts";
import { openDataDir } from "./data-dir.ts";
import { channelOf, encodeNotes, notifyInTx } from "./postgres/cluster-bus.ts";
import { TxNotes } from "./postgres/pg-group.ts";
import { migrate, SCHEMA_NAME, SCHEMA_NAME_RULE } from "./postgres/schema.ts";
import { rowDamage } from "./sqlite/row-checksum.ts";
import { SCHEMA_VERSION as SQLITE_SCHEMA_VERSION } from "./sqlite/schema.ts";
import { FLAG, STATUS, statusName, type TaskRow } from "./sqlite/task-row.ts";

/** The database file inside persistence.data_dir (as app-store.ts names it). */
const DATABASE_FILE = "tq.db";
/** Rows read per page, and most inserted per statement. */
const CHUNK_ROWS = 1000;
/** Most payload and result bytes per INSERT (a task may carry 16 MiB). */
const CHUNK_BYTES = 32 * 1024 * 1024;
/** Who the cluster's notifications say they come from: no broker ignores them as its own. */
const NOTIFY_INSTANCE = "tq-broker-migrate";

export interface SqliteToPostgresOptions {
  /** persistence.data_dir of the single broker (stopped). */
  dataDir: string;
  /** postgres://... of the cluster's database. */
  postgresUrl: string;
  /** persistence.postgres.schema of the cluster. */
  schema: string;
  /** Copy completed, dead and cancelled tasks too (with results and errors). Default true. */
  finished?: boolean;
  nowMs?: number;
}

export interface SqliteToPostgresReport {
  dataDir: string;
  schema: string;
  /** Tasks written into PostgreSQL, by the status they have there. */
  copied: Partial<Record<TaskStatus, number>>;
  /** Rows the file marked in_progress (written by builds that kept leases on disk): copied as pending. */
  inProgressRequeued: number;
  /** Already in PostgreSQL with the same id (an earlier run): left as they are there. */
  alreadyThere: number;
  /** Their idempotency key is held by another task in PostgreSQL: not copied (ids listed). */
  keyTaken: string[];
  /** Rows that fail their checksums (damaged on disk; a broker would quarantine them): not copied (ids or seq listed). */
  damaged: string[];
  /** Finished tasks left out (finished: false). */
  finishedSkipped: number;
  /** Run-history entries copied with their tasks. */
  runs: number;
  /** Paused queues written (those not already paused there). */
  pausedQueues: number;
}

export class MigrateError extends Error {
  override get name(): string {
    return "MigrateError";
  }
}

const FINISHED_CODES = [STATUS.completed, STATUS.dead, STATUS.cancelled] as number[];

/** Target status of a source row: in_progress (its lease died with the broker) is pending again. */
function targetStatus(code: number): TaskStatus {
  return code === STATUS.in_progress ? "pending" : statusName(code);
}

export async function migrateSqliteToPostgres(options: SqliteToPostgresOptions): Promise<SqliteToPostgresReport> {
  const finished = options.finished ?? true;
  const nowMs = options.nowMs ?? Date.now();
  if (!SCHEMA_NAME.test(options.schema)) throw new MigrateError(`schema ${JSON.stringify(options.schema)}: expected ${SCHEMA_NAME_RULE}`);
  const file = join(options.dataDir, DATABASE_FILE);
  // Checked before the lock: taking it would create a missing directory.
  if (!existsSync(file)) throw new MigrateError(`no ${DATABASE_FILE} in ${options.dataDir}: not a tq-broker data dir (persistence.data_dir of the broker to migrate)`);
  // Throws DataDirError naming the pid when a broker runs on it; held until the copy is done.
  const lock = openDataDir(options.dataDir);
  let db: Database | null = null;
  let sql: SQL | null = null;
  try {
    db = new Database(file, { readwrite: true, create: false, strict: false });
    const version = Number((db.query("PRAGMA user_version").values()[0] ?? [0])[0]);
    if (version !== SQLITE_SCHEMA_VERSION) {
      throw new MigrateError(
        version < SQLITE_SCHEMA_VERSION
          ? `${file} is at schema version ${version}, older than this tq-broker's (${SQLITE_SCHEMA_VERSION}): start this version's broker on it once (it upgrades the file), stop it, then migrate`
          : `${file} is at schema version ${version}, newer than this tq-broker knows (${SQLITE_SCHEMA_VERSION}): migrate with the newer tq-broker`,
      );
    }
    sql = new SQL(options.postgresUrl, { max: 1 });
    try {
      await migrate(sql, options.schema);
    } catch (err) {
      throw new MigrateError(`PostgreSQL: ${err instanceof Error ? err.message : String(err)}`);
    }
    const source = db;
    const report: SqliteToPostgresReport = {
      dataDir: lock.path,
      schema: options.schema,
      copied: {},
      inProgressRequeued: 0,
      alreadyThere: 0,
      keyTaken: [],
      damaged: [],
      finishedSkipped: 0,
      runs: 0,
      pausedQueues: 0,
    };
    await sql.begin(async (tx) => {
      await tx.unsafe(`SET LOCAL search_path TO "${options.schema}"`);
      const notes = new TxNotes();
      const page = source.query<TaskRow, [number, number]>("SELECT * FROM tasks WHERE seq > ? ORDER BY seq LIMIT ?");
      for (let after = 0; ; ) {
        const rows = page.all(after, CHUNK_ROWS);
        if (rows.length === 0) break;
        after = rows[rows.length - 1]!.seq;
        const take: TaskRow[] = [];
        for (const row of rows) {
          if (rowDamage(row) !== null) {
            report.damaged.push(row.id instanceof Uint8Array && row.id.length === 16 ? uuidToString(row.id) : `seq ${row.seq}`);
          } else if (!finished && FINISHED_CODES.includes(row.status)) {
            report.finishedSkipped++;
          } else take.push(row);
        }
        for (const chunk of byBytes(take)) await copyChunk(tx, source, chunk, nowMs, report, notes);
      }
      const paused = source.query<{ queue: string; paused_at: number }, []>("SELECT queue, paused_at FROM paused_queues").all();
      if (paused.length > 0) {
        const written = (await tx`
          INSERT INTO paused_queues (queue, paused_at)
          SELECT * FROM unnest(${paused.map((p) => p.queue)}::text[], ${paused.map((p) => p.paused_at)}::bigint[])
          ON CONFLICT (queue) DO NOTHING RETURNING queue`) as { queue: string }[];
        report.pausedQueues = written.length;
        for (const { queue } of written) notes.pauses.push([queue, true]);
      }
      // Brokers already running on the schema hear of the new ready tasks at once (else at their
      // next poll); delivered only if this transaction commits.
      await notifyInTx(tx, channelOf(options.schema), encodeNotes(NOTIFY_INSTANCE, notes));
    });
    return report;
  } finally {
    await sql?.close().catch(() => undefined);
    db?.close();
    lock.release();
  }
}

/** Rows cut into runs of at most CHUNK_BYTES of payloads and results (at least one row each). */
function byBytes(rows: TaskRow[]): TaskRow[][] {
  const chunks: TaskRow[][] = [];
  let current: TaskRow[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = row.payload.byteLength + (row.result?.byteLength ?? 0) + (row.error?.length ?? 0);
    if (current.length > 0 && bytes + size > CHUNK_BYTES) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(row);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** One INSERT for a chunk of rows; what PostgreSQL already holds (by id or key) is skipped and reported. */
async function copyChunk(tx: SQL, source: Database, rows: TaskRow[], nowMs: number, report: SqliteToPostgresReport, notes: TxNotes): Promise<void> {
  const ids = rows.map((r) => uuidToString(r.id));
  const status = rows.map((r) => targetStatus(r.status));
  const col = <T>(f: (r: TaskRow, i: number) => T): T[] => rows.map(f);
  const requeued = col((r) => r.status === STATUS.in_progress);
  const written = (await tx`
    INSERT INTO tasks (id, queue, type, priority, status, payload, payload_is_json, result, result_is_json, error, attempts,
                       max_retries, lease_ms, idempotency_key, run_at, ready_seq, ready_at, created_at, updated_at, started_at,
                       finished_at, worker_id)
    SELECT u.id, u.queue, u.type, u.priority, u.status, u.payload, u.payload_is_json, u.result, u.result_is_json, u.error, u.attempts,
           u.max_retries, u.lease_ms, u.idempotency_key, u.run_at, CASE WHEN u.status = 'pending' THEN nextval('ready_seq') END,
           CASE WHEN u.status = 'pending' THEN ${nowMs}::bigint END, u.created_at, u.updated_at, u.started_at, u.finished_at, u.worker_id
    FROM unnest(${ids}::uuid[], ${col((r) => r.queue)}::text[], ${col((r) => r.type)}::text[], ${col((r) => r.priority)}::smallint[],
                ${status}::text[], ${col((r) => r.payload)}::bytea[], ${col((r) => (r.flags & FLAG.payloadIsJson) !== 0)}::boolean[],
                ${col((r) => r.result)}::bytea[], ${col((r) => r.result !== null && (r.flags & FLAG.resultIsJson) !== 0)}::boolean[],
                ${col((r) => r.error)}::text[], ${col((r) => r.attempts)}::integer[], ${col((r) => r.max_retries)}::integer[],
                ${col((r) => r.lease_ms)}::bigint[], ${col((r) => r.idempotency_key)}::text[], ${col((r) => r.run_at)}::bigint[],
                ${col((r) => r.created_at)}::bigint[], ${col((r, i) => (requeued[i] ? nowMs : r.updated_at))}::bigint[],
                ${col((r, i) => (requeued[i] ? null : r.started_at))}::bigint[], ${col((r) => r.finished_at)}::bigint[],
                ${col((r, i) => (requeued[i] ? null : r.worker_id))}::text[])
         WITH ORDINALITY AS u(id, queue, type, priority, status, payload, payload_is_json, result, result_is_json, error, attempts,
                              max_retries, lease_ms, idempotency_key, run_at, created_at, updated_at, started_at, finished_at, worker_id, ord)
    ORDER BY u.ord
    ON CONFLICT DO NOTHING
    RETURNING id`) as { id: string }[];
  const inserted = new Set(written.map((w) => w.id));
  const skipped = ids.filter((id) => !inserted.has(id));
  if (skipped.length > 0) {
    const same = new Set(((await tx`SELECT id FROM tasks WHERE id = ANY(${skipped}::uuid[])`) as { id: string }[]).map((r) => r.id));
    for (const id of skipped) {
      if (same.has(id)) report.alreadyThere++;
      else report.keyTaken.push(id);
    }
  }
  const copiedSeqs: number[] = [];
  rows.forEach((row, i) => {
    if (!inserted.has(ids[i]!)) return;
    copiedSeqs.push(row.seq);
    const s = status[i]!;
    report.copied[s] = (report.copied[s] ?? 0) + 1;
    if (requeued[i]) report.inProgressRequeued++;
    if (s === "pending") notes.madeReady(row.queue);
  });
  if (copiedSeqs.length === 0) return;
  const idOfSeq = new Map(rows.map((r, i) => [r.seq, ids[i]!]));
  const runs = source
    .query<{ seq: number; worker_id: string; started_at: number; ended_at: number; outcome: number; error: string | null }, []>(
      `SELECT seq, worker_id, started_at, ended_at, outcome, error FROM task_runs WHERE seq IN (${copiedSeqs.join(",")}) ORDER BY rowid`,
    )
    .all()
    .filter((r) => RUN_OUTCOMES[r.outcome] !== undefined);
  if (runs.length === 0) return;
  await tx`
    INSERT INTO runs (task_id, worker_id, started_at, ended_at, outcome, error)
    SELECT a, b, c, d, e, f FROM unnest(${runs.map((r) => idOfSeq.get(r.seq)!)}::uuid[], ${runs.map((r) => r.worker_id)}::text[],
                         ${runs.map((r) => r.started_at)}::bigint[], ${runs.map((r) => r.ended_at)}::bigint[],
                         ${runs.map((r) => RUN_OUTCOMES[r.outcome]!)}::text[], ${runs.map((r) => r.error)}::text[]) WITH ORDINALITY AS u(a, b, c, d, e, f, ord)
    ORDER BY ord`;
  report.runs += runs.length;
}
