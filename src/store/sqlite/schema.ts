// Opens the database file: connection pragmas, numbered migrations on PRAGMA user_version, and the
// integrity check that refuses a corrupt file. Knows the schema; knows nothing of the queue rules.

import { Database } from "bun:sqlite";

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
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export interface OpenedDatabase {
  db: Database;
  /** True when this open created the file's schema. */
  created: boolean;
}

/**
 * Opens (creating if needed) and migrates the database. `full`: SQLite fsyncs the WAL inside each
 * COMMIT; `normal`: it does not (the store syncs the WAL itself off the event loop, or leaves it to
 * the periodic checkpoint). Auto-checkpoint is off: the store runs checkpoints on its own timer so
 * that a commit never pays for one.
 */
export function openDatabase(path: string, synchronous: "full" | "normal", cacheMiB = 32): OpenedDatabase {
  let db: Database;
  try {
    db = new Database(path, { create: true, strict: true });
  } catch (err) {
    throw new CorruptDatabaseError(path, [String((err as Error).message ?? err)], err);
  }
  try {
    const version = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
    if (version === 0) {
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
    checkIntegrity(db, path);
    if (version > SCHEMA_VERSION) {
      throw new CorruptDatabaseError(path, [`schema version ${version} is newer than this build knows (${SCHEMA_VERSION})`]);
    }
    for (let v = version; v < SCHEMA_VERSION; v++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[v]!);
        db.exec(`PRAGMA user_version = ${v + 1}`);
      })();
    }
    return { db, created: version === 0 };
  } catch (err) {
    db.close();
    if (err instanceof CorruptDatabaseError) throw err;
    const code = (err as { code?: unknown }).code;
    if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") throw new CorruptDatabaseError(path, [String((err as Error).message)], err);
    throw err;
  }
}

function checkIntegrity(db: Database, path: string): void {
  const rows = db.query("PRAGMA quick_check").values() as unknown[][];
  const problems = rows.map((r) => String(r[0])).filter((s) => s !== "ok");
  if (problems.length > 0) throw new CorruptDatabaseError(path, problems);
}
