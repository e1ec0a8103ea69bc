// Opens the database file: connection pragmas, numbered migrations on PRAGMA user_version, and the
// integrity check that refuses a corrupt file. Knows the schema; knows nothing of the queue rules.

import { Database } from "bun:sqlite";
import { integrityInBackground, integrityNow, type PendingIntegrity, type StructureCheck } from "./integrity-check.ts";
import { QUARANTINE_TABLE_SQL } from "./quarantine.ts";
import { schemaDifferences } from "./schema-check.ts";
import { fixedCrc, stateCrc } from "./row-checksum.ts";
import type { TaskRow } from "./task-row.ts";

/** The file is not a usable tq-broker database. The CLI maps it to EXIT_CODE and refuses to start. */
export class CorruptDatabaseError extends Error {
  /** sysexits EX_DATAERR: the input data (the database file) is bad. */
  static readonly EXIT_CODE = 65;
  readonly path: string;
  readonly details: string[];

  constructor(path: string, details: string[], cause?: unknown) {
    super(`database ${path} is corrupt or not a tq-broker database: ${details.slice(0, 5).join("; ")}`, cause === undefined ? undefined : { cause });
    this.path = path;
    this.details = details;
  }

  override get name(): string {
    return "CorruptDatabaseError";
  }
}

/**
 * Migration N brings user_version from N-1 to N. Append only: a shipped migration never changes.
 * Indexes are the ones the queries need and no more: each costs insert throughput.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE tasks (
     seq INTEGER PRIMARY KEY,
     id BLOB NOT NULL UNIQUE,
     type TEXT NOT NULL,
     queue TEXT NOT NULL,
     payload BLOB NOT NULL,
     flags INTEGER NOT NULL,
     priority INTEGER NOT NULL,
     status INTEGER NOT NULL,
     run_at INTEGER,
     attempts INTEGER NOT NULL DEFAULT 0,
     max_retries INTEGER NOT NULL,
     lease_ms INTEGER NOT NULL,
     lease_token INTEGER,
     lease_expires_at INTEGER,
     worker_id TEXT,
     idempotency_key TEXT,
     result BLOB,
     error TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     started_at INTEGER,
     finished_at INTEGER
   ) STRICT;
   -- Idempotency lookups; the key is free again once its task is purged.
   CREATE UNIQUE INDEX tasks_idempotency_key ON tasks(idempotency_key) WHERE idempotency_key IS NOT NULL;
   -- Recovery loads unfinished rows by status; list pages by status in seq order.
   CREATE INDEX tasks_status_seq ON tasks(status, seq);
   -- Retention finds old finished rows without scanning live ones.
   CREATE INDEX tasks_finished_at ON tasks(finished_at) WHERE finished_at IS NOT NULL;
   CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
   INSERT INTO meta (key, value) VALUES ('lease_token_reserved', 0);`,
  // 2: completed rows leave every index but the id's. The (status, seq) index now holds only rows
  // that are not completed (what recovery, lists of live or failed tasks and the dead-letter purge
  // read), and finished_at has no index: retention walks seq order instead. A completion then
  // deletes one index entry instead of moving one and adding another, and a submit writes one
  // index fewer (measured: complete 6.4 -> 4.1 us, insert 4.5 -> 3.2 us per row).
  `DROP INDEX tasks_status_seq;
   DROP INDEX tasks_finished_at;
   CREATE INDEX tasks_open_status_seq ON tasks(status, seq) WHERE status <> 3;`,
  // 3: corruption is never silent (docs/guarantees.md). Each row carries checksums of its fields
  // (row-checksum.ts; the default fails the check, so a row no writer checksummed is never served),
  // rows that fail go to the quarantine table, and the database gets a random id that the file
  // <db>-id remembers (db-identity.ts). The lease columns are unused since leases live in memory:
  // cleared, so that every writer knows their value. Existing rows get their checksums in JS
  // (AFTER_MIGRATION).
  `ALTER TABLE tasks ADD COLUMN fixed_crc INTEGER NOT NULL DEFAULT -1;
   ALTER TABLE tasks ADD COLUMN state_crc INTEGER NOT NULL DEFAULT -1;
   ${QUARANTINE_TABLE_SQL}
   UPDATE tasks SET lease_token = NULL, lease_expires_at = NULL WHERE lease_token IS NOT NULL OR lease_expires_at IS NOT NULL;
   INSERT INTO meta (key, value) VALUES ('db_id', abs(random() % 9007199254740991));`,
  // 4: the lease columns go (leases live in memory; NULL in every row since 3). A row's state
  // checksum still hashes them as NULL (row-checksum.ts), so rows checksummed before stay valid.
  // SQLite rewrites the table for each DROP COLUMN, once.
  `ALTER TABLE tasks DROP COLUMN lease_token;
   ALTER TABLE tasks DROP COLUMN lease_expires_at;`,
  // 5: what an operator reads (the dashboard, issue 24). Finished rows (completed, dead,
  // cancelled) are listed by the time they finished, newest first without a sort: one index entry
  // per finished row (a completion writes it; measured in docs/storage.md). task_runs keeps each
  // run that ended other than completed (a failure, an expired lease, a lost worker, a cancel),
  // written with the lease's end in the same group; a completed run is read from its row, so the
  // happy path writes nothing more. Runs go with their task (the trigger covers every delete:
  // retention, operators, quarantine). paused_queues: a pause survives a restart.
  `CREATE INDEX tasks_finished ON tasks(status, finished_at) WHERE finished_at IS NOT NULL;
   CREATE TABLE task_runs (
     seq INTEGER NOT NULL,
     worker_id TEXT NOT NULL,
     started_at INTEGER NOT NULL,
     ended_at INTEGER NOT NULL,
     outcome INTEGER NOT NULL,
     error TEXT
   ) STRICT;
   CREATE INDEX task_runs_seq ON task_runs(seq);
   CREATE TRIGGER task_runs_go_with_their_task AFTER DELETE ON tasks BEGIN DELETE FROM task_runs WHERE seq = OLD.seq; END;
   CREATE TABLE paused_queues (queue TEXT PRIMARY KEY, paused_at INTEGER NOT NULL) STRICT;`,
];

/** Work of a migration that SQL cannot do, run in the same transaction right after its SQL. */
const AFTER_MIGRATION: Readonly<Record<number, (db: Database) => void>> = {
  3: checksumEveryRow,
};

export const SCHEMA_VERSION = MIGRATIONS.length;

export interface SchemaState {
  /** PRAGMA user_version as found. */
  version: number;
  /** Whether the file holds a tasks table. */
  hasTasks: boolean;
}

export interface OpenedDatabase {
  db: Database;
  /** True when this open created the file's schema. */
  created: boolean;
  /** True when this open ran migrations (the file was checked whole before, with integrity_check). */
  migrated: boolean;
  /**
   * The integrity check: already done when this open migrated the file (a damaged file must not be
   * written to), else running on a worker thread while the store checks rows and loads memory.
   * judgeIntegrity() turns its result into a refusal or the indexes to rebuild.
   */
  integrity: PendingIntegrity;
}

export interface OpenDatabaseHooks {
  /** Told what the file holds before any migration runs; may throw to refuse it untouched. */
  beforeMigrating?: (state: SchemaState) => void;
  /**
   * The check run beside the open of a file at the current version (default integrity_check). A
   * file to migrate always gets integrity_check, before anything is written.
   */
  structureCheck?: StructureCheck;
}

/**
 * Opens (creating if needed) and migrates the database. `full`: SQLite fsyncs the WAL inside each
 * COMMIT; `normal`: it does not (the store syncs the WAL itself off the event loop, or leaves it to
 * the periodic checkpoint). Auto-checkpoint is off: the store runs checkpoints on its own timer so
 * that a commit never pays for one.
 */
export function openDatabase(path: string, synchronous: "full" | "normal", cacheMiB = 32, hooks: OpenDatabaseHooks = {}): OpenedDatabase {
  let db: Database;
  try {
    db = new Database(path, { create: true, strict: true });
  } catch (err) {
    throw new CorruptDatabaseError(path, [String((err as Error).message ?? err)], err);
  }
  let integrity: PendingIntegrity | undefined;
  try {
    const version = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
    const hasTasks = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tasks'").get() !== null;
    if (version === 0 && !hasTasks) {
      // auto_vacuum can only be chosen before the first table exists.
      db.exec("PRAGMA auto_vacuum = INCREMENTAL");
    }
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(`PRAGMA synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`);
    db.exec("PRAGMA wal_autocheckpoint = 0");
    db.exec("PRAGMA temp_store = MEMORY");
    // The checkpoint worker's TRUNCATE briefly holds the write lock: wait for it rather than fail a group.
    db.exec("PRAGMA busy_timeout = 5000");
    // Claims and completions touch rows all over the table (priority order is not insert order):
    // a page cache of a few dozen MiB keeps those reads off the file system.
    db.exec(`PRAGMA cache_size = -${Math.max(1, Math.floor(cacheMiB)) * 1024}`);
    // A file about to be migrated is checked first; one at the current version is only read
    // until the result is in, so it is checked on another thread meanwhile.
    integrity = version === SCHEMA_VERSION && path !== ":memory:" ? integrityInBackground(path, db, hooks.structureCheck) : integrityNow(db);
    if (version !== SCHEMA_VERSION) judgeIntegrity(path, integrity.result());
    if (version > SCHEMA_VERSION) {
      throw new CorruptDatabaseError(path, [`schema version ${version} is newer than this build knows (${SCHEMA_VERSION})`]);
    }
    if (version < 0) {
      throw new CorruptDatabaseError(path, [`schema version ${version} (PRAGMA user_version) is not one tq-broker ever wrote; restore the file from a backup`]);
    }
    // The file must hold exactly what its version's migrations made, before any is run on it.
    const differences = schemaDifferences(db, version, MIGRATIONS);
    if (differences.length > 0) {
      throw new CorruptDatabaseError(path, [
        `schema version ${version} (PRAGMA user_version) does not match the tables in the file: ${differences.slice(0, 5).join("; ")}; restore the file from a backup`,
      ]);
    }
    hooks.beforeMigrating?.({ version, hasTasks });
    for (let v = version; v < SCHEMA_VERSION; v++) {
      try {
        db.transaction(() => {
          db.exec(MIGRATIONS[v]!);
          AFTER_MIGRATION[v + 1]?.(db);
          db.exec(`PRAGMA user_version = ${v + 1}`);
        })();
      } catch (err) {
        // A version lower than the tables it labels (an edited user_version): the migration finds
        // its work done or its inputs gone. Refused untouched (the migration rolled back).
        throw new CorruptDatabaseError(
          path,
          [`schema version ${version} (PRAGMA user_version) does not match the tables in the file: migration ${v + 1} failed (${(err as Error).message}); restore the file from a backup`],
          err,
        );
      }
    }
    return { db, created: version === 0 && !hasTasks, migrated: version !== SCHEMA_VERSION, integrity };
  } catch (err) {
    integrity?.cancel();
    db.close();
    if (err instanceof CorruptDatabaseError) throw err;
    const code = (err as { code?: unknown }).code;
    if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") throw new CorruptDatabaseError(path, [String((err as Error).message)], err);
    throw err;
  }
}

// What integrity_check says of an index out of step with its table (SQLite's wording).
const INDEX_PROBLEM = /(?:missing from index|wrong # of entries in index|non-unique entry in index) (\S+)/;

/**
 * What PRAGMA integrity_check found (not quick_check: only the full check compares each index with
 * its table, and a damaged index entry makes a task vanish from lookups or the wrong task answer
 * one). Damaged pages, records or the free list refuse the file; damaged indexes alone are returned:
 * derived data, rebuilt by REINDEX without loss once the rows are checked.
 */
export function judgeIntegrity(path: string, problems: readonly string[]): string[] {
  const indexes = new Set<string>();
  const structural: string[] = [];
  for (const problem of problems) {
    const index = INDEX_PROBLEM.exec(problem)?.[1];
    if (index === undefined) structural.push(problem);
    else indexes.add(index);
  }
  if (structural.length > 0) throw new CorruptDatabaseError(path, structural);
  return [...indexes];
}

/**
 * Migration 3: checksums for the rows written before rows had them, in one UPDATE that calls the
 * checksum functions from SQL (measured on 1M rows: 2x faster than a JS UPDATE per row).
 */
function checksumEveryRow(db: Database): void {
  db.function("tq_fixed_crc", { varargs: true }, (...v: unknown[]) => fixedCrc(named(FIXED_ARGS, v) as unknown as TaskRow));
  db.function("tq_state_crc", { varargs: true }, (...v: unknown[]) => stateCrc(named(STATE_ARGS, v) as unknown as TaskRow));
  db.exec(`UPDATE tasks SET fixed_crc = tq_fixed_crc(${FIXED_ARGS.join(", ")}), state_crc = tq_state_crc(${STATE_ARGS.join(", ")})`);
}

const FIXED_ARGS = ["id", "type", "queue", "payload", "priority", "max_retries", "lease_ms", "idempotency_key", "created_at"];
// Migration 3 ran on files that still had the lease columns, NULL by then: the checksum hashes them as NULL.
const STATE_ARGS = ["flags", "status", "run_at", "attempts", "worker_id", "result", "error", "updated_at", "started_at", "finished_at"];

function named(names: readonly string[], values: unknown[]): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (let i = 0; i < names.length; i++) row[names[i]!] = values[i];
  return row;
}
