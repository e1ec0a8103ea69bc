// What the store checks at open so that a broker that cannot trust its data does not start
// (docs/guarantees.md): a WAL cut short by damage (before SQLite reads it), a database that lost
// its content, the schema, the structure of every page, indexes out of step with the table, and
// every task row against its checksums. Each finding refuses the start (DataLossError, exit 65)
// unless the operator accepted the loss; then it is acted on and listed. After a clean stop whose
// record still holds (clean-stop.ts) the rows and indexes are checked right after serving instead
// (checks-after-open.ts). Owns the order of the checks; each check lives in its own file.

import type { Database } from "bun:sqlite";
import { closeSync, copyFileSync, openSync, readSync, statSync } from "node:fs";
import { stampDifference, stampOf, takeCleanStop, type CleanStop, type FileStamp } from "./clean-stop.ts";
import { readIdentity, writeIdentity, type DbIdentity } from "./db-identity.ts";
import { Quarantine, type QuarantinedRow } from "./quarantine.ts";
import { CorruptDatabaseError, judgeIntegrity, openDatabase, type SchemaState } from "./schema.ts";
import type { PendingIntegrity } from "./integrity-check.ts";
import type { TaskRow } from "./task-row.ts";
import { checkWal, type WalDamage } from "./wal-check.ts";

/** What the checks at open found; every list empty and every field null when the data is whole. */
export interface DataLossReport {
  /** The WAL held committed transactions SQLite would drop. */
  wal: WalDamage | null;
  /** Where the damaged WAL was copied before the start went on (accepted starts only). */
  walCopy: string | null;
  /** The database lost its content (missing, empty, or another database than the data dir held). */
  lostContent: string | null;
  /** Task rows that failed their checksums: moved to the quarantine table (accepted starts only). */
  quarantined: QuarantinedRow[];
  /** Indexes rebuilt from the table (no data lost: indexes are derived). */
  indexesRebuilt: string[];
}

/** Figures of the checks, for the start-up log. */
export interface OpenCheckFigures {
  /**
   * When rows and indexes are checked: before serving, or right after (a clean stop whose record
   * holds: the file is as the last broker left it).
   */
  rowsAndIndexes: "before serving" | "after serving";
  /** Why they were checked before serving (null when after). */
  beforeServingBecause: string | null;
  /** Rows checked against their checksums before serving. */
  rowsChecked: number;
  /**
   * What the checks held the open for, in ms: the WAL read, the row scan and the wait for the
   * integrity check (which runs while memory loads).
   */
  checkMs: number;
  /** Each step of the open, in ms, in the order they ran (the store adds its own after the checks'). */
  phasesMs: OpenPhases;
}

/** Milliseconds per step of the open, by step name, in the order the steps ran. */
export type OpenPhases = Record<string, number>;

/** Times the steps of an open: each lap() names the step that just ended. */
export class PhaseClock {
  readonly phasesMs: OpenPhases = {};
  private last = performance.now();

  lap(step: string): void {
    const now = performance.now();
    this.phasesMs[step] = Math.round((this.phasesMs[step] ?? 0) + now - this.last);
    this.last = now;
  }
}

/** Damage was found and the operator has not accepted the loss: the CLI exits 65 and lists it. */
export class DataLossError extends CorruptDatabaseError {
  readonly report: DataLossReport;

  constructor(path: string, report: DataLossReport) {
    super(path, describeLoss(report));
    this.report = report;
    this.message =
      `database ${path} is damaged: ${this.details.join("; ")}. No task was changed or removed. Restore the data dir from a backup, ` +
      "or start once with --accept-data-loss to go on without what is lost (it is listed at that start)";
  }

  override get name(): string {
    return "DataLossError";
  }
}

/** One line per finding, for the refusal and the accepted start's log. */
export function describeLoss(report: DataLossReport): string[] {
  const lines: string[] = [];
  if (report.lostContent !== null) lines.push(report.lostContent);
  if (report.wal !== null) {
    const w = report.wal;
    lines.push(`${w.reason}: WAL frames ${w.droppedFrom}-${w.droppedTo} dropped (${w.commitsLost} committed transaction${w.commitsLost === 1 ? "" : "s"} or more)`);
  }
  if (report.quarantined.length > 0) {
    const ids = report.quarantined.slice(0, 20).map((q) => q.id);
    const more = report.quarantined.length > ids.length ? ` and ${report.quarantined.length - ids.length} more` : "";
    lines.push(`${report.quarantined.length} task record${report.quarantined.length === 1 ? "" : "s"} failed their checksums: ${ids.join(", ")}${more}`);
  }
  if (report.indexesRebuilt.length > 0) lines.push(`indexes out of step with the table, rebuilt: ${report.indexesRebuilt.join(", ")}`);
  return lines;
}

export interface CheckedOpenOptions {
  path: string;
  /** Times the steps; the store goes on timing its own with it. */
  clock: PhaseClock;
  synchronous: "full" | "normal";
  cacheMiB: number;
  /** The operator accepts losing what the checks find (`tq-broker serve --accept-data-loss`). */
  acceptDataLoss: boolean;
  /** Told of each row found damaged after the open (the store moves it out). */
  onDamagedRow: (row: QuarantinedRow) => void;
  /** Handed each row that passed the scan at open, in seq order (the store loads its memory). */
  onCheckedRow?: (row: TaskRow) => void;
}

export interface CheckedDatabase {
  db: Database;
  quarantine: Quarantine;
  /** The database's id (meta 'db_id'); null in memory. */
  dbId: number | null;
  /**
   * Rows and indexes are still to check (checks-after-open.ts), and memory is not loaded: only
   * the structure of every page (quick_check) is checked before serving.
   */
  checkAfterServing: boolean;
  /** With checkAfterServing: the file as the clean stop's record stamped it (and as it is now). */
  cleanStopFile: FileStamp | null;
  /**
   * The rest of the checks, once the store has loaded its memory (the integrity check runs on
   * another thread meanwhile): throws CorruptDatabaseError for a damaged file (the caller closes
   * `db`), else acts on what an accepted start found.
   */
  finish(): FinishedChecks;
  /**
   * The open failed before finish: stops the integrity check, and returns the error to throw (a
   * "malformed" error from SQLite becomes CorruptDatabaseError, with what the check found).
   */
  abandon(err: unknown): unknown;
}

/**
 * SQLite reading a damaged page (SQLITE_CORRUPT, SQLITE_NOTADB) before the integrity check's
 * result was judged: the file is corrupt (exit 65), in the words of that check when it has them.
 */
function asCorrupt(path: string, err: unknown, integrity: PendingIntegrity): unknown {
  const code = String((err as { code?: unknown })?.code ?? "");
  if (err instanceof CorruptDatabaseError || !(code.startsWith("SQLITE_CORRUPT") || code.startsWith("SQLITE_NOTADB"))) {
    integrity.cancel();
    return err;
  }
  let problems: string[];
  try {
    problems = integrity.result();
  } catch {
    problems = [];
  }
  return new CorruptDatabaseError(path, problems.length > 0 ? problems : [String((err as Error).message)], err);
}

export interface FinishedChecks {
  /** Null when nothing was found; otherwise what the accepted start lost or repaired. */
  report: DataLossReport | null;
  figures: OpenCheckFigures;
  /** Rows moved out or indexes rebuilt: memory loaded before must be loaded again. */
  reload: boolean;
}

function emptyReport(): DataLossReport {
  return { wal: null, walCopy: null, lostContent: null, quarantined: [], indexesRebuilt: [] };
}

function hasLoss(report: DataLossReport): boolean {
  return report.wal !== null || report.lostContent !== null || report.quarantined.length > 0;
}

function fileSize(path: string): number | null {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

/** The database's page size from its header (bytes 16-17, big-endian; 1 means 65536), or 4096. */
function dbPageSize(path: string): number {
  const header = new Uint8Array(100);
  try {
    const fd = openSync(path, "r");
    try {
      if (readSync(fd, header, 0, 100, 0) < 100) return 4096;
    } finally {
      closeSync(fd);
    }
  } catch {
    return 4096;
  }
  const n = (header[16]! << 8) | header[17]!;
  return n === 1 ? 65536 : n >= 512 ? n : 4096;
}

export function openChecked(options: CheckedOpenOptions): CheckedDatabase {
  const { path, acceptDataLoss: accept, clock } = options;
  const started = performance.now();
  const report = emptyReport();
  const refuse = (): never => {
    throw new DataLossError(path, report);
  };

  // Before SQLite touches anything: it would replay the WAL (dropping what follows damage) and,
  // on close, copy it into the database and delete it.
  const onDisk = path !== ":memory:";
  const remembered = onDisk ? readIdentity(path) : null;
  // Taken (and removed) first: whatever happens from here on leaves no record of a clean stop.
  const cleanStop = onDisk ? takeCleanStop(path) : null;
  const size = fileSize(path);
  report.wal = onDisk ? checkWal(`${path}-wal`, dbPageSize(path)) : null;
  if (remembered !== null && (size === null || size === 0)) {
    report.lostContent = `the database file is ${size === null ? "missing" : "empty (0 bytes)"}, but this data dir held a tq-broker database${
      remembered === "unreadable" ? "" : ` (id ${remembered.dbId}, created ${new Date(remembered.createdAtMs).toISOString()})`
    }: every task in it is lost`;
  }
  if (hasLoss(report) && !accept) refuse();
  if (report.wal !== null) {
    report.walCopy = `${path}-wal.damaged-${Date.now()}`;
    copyFileSync(`${path}-wal`, report.walCopy);
  }
  let beforeServingBecause = onDisk ? whyCheckBeforeServing(path, cleanStop, remembered, report) : "the database is in memory";
  clock.lap("wal");

  const opened = openDatabase(path, options.synchronous, options.cacheMiB, {
    beforeMigrating(state: SchemaState) {
      if (remembered !== null && report.lostContent === null && state.version === 0 && !state.hasTasks) {
        report.lostContent = "the database file holds no tq-broker tables, but this data dir held a tq-broker database: every task in it is lost";
        if (!accept) refuse();
      }
    },
    // Beside memory loading: every page's structure before serving; what integrity_check adds
    // (indexes against their table) comes after, with the rows.
    structureCheck: beforeServingBecause === null ? "quick_check" : "integrity_check",
  });
  const db = opened.db;
  if (opened.migrated && beforeServingBecause === null) beforeServingBecause = "the file was migrated to this build's schema";
  clock.lap("schema");
  let quarantine: Quarantine;
  let rowsChecked = 0;
  let dbId: number | null = null;
  try {
    if (onDisk) dbId = checkIdentity(db, path, remembered, opened.created, report, accept);
    clock.lap("identity");
    quarantine = new Quarantine(db, options.onDamagedRow);
    if (beforeServingBecause !== null) {
      rowsChecked = quarantine.scanAll(options.onCheckedRow);
      clock.lap("rows");
    }
    if (quarantine.pending > 0 && !accept) {
      // The rows are listed, not moved: a refused start changes nothing.
      report.quarantined = quarantine.peek();
      refuse();
    }
  } catch (err) {
    const thrown = asCorrupt(path, err, opened.integrity);
    db.close();
    throw thrown;
  }
  const firstPhaseMs = performance.now() - started;
  const rowsAndIndexes = beforeServingBecause === null ? "after serving" : "before serving";
  return {
    db,
    quarantine,
    dbId,
    checkAfterServing: beforeServingBecause === null,
    cleanStopFile: beforeServingBecause === null ? (cleanStop?.file ?? null) : null,
    finish() {
      const waitStarted = performance.now();
      const damagedIndexes = judgeIntegrity(path, opened.integrity.result());
      const checkMs = firstPhaseMs + (performance.now() - waitStarted);
      clock.lap("structure");
      const moving = quarantine.pending > 0 || damagedIndexes.length > 0;
      if (moving) {
        db.transaction(() => {
          report.quarantined = quarantine.moveOut(Date.now());
          // After the damaged rows are out: the indexes are rebuilt from rows that passed.
          for (const index of damagedIndexes) db.exec(`REINDEX ${index}`);
        })();
      }
      report.indexesRebuilt = damagedIndexes;
      // An accepted WAL loss must not be found again at the next start: copy what SQLite kept into
      // the database and empty the WAL (its damaged frames are in walCopy).
      if (report.wal !== null) db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      if (moving || report.wal !== null) clock.lap("repair");
      const found = hasLoss(report) || damagedIndexes.length > 0;
      return {
        report: found ? report : null,
        figures: { rowsAndIndexes, beforeServingBecause, rowsChecked, checkMs, phasesMs: clock.phasesMs },
        reload: moving,
      };
    },
    abandon(err) {
      return asCorrupt(path, err, opened.integrity);
    },
  };
}

/**
 * Null when the clean stop's record holds: the file is, byte for byte, what a broker that checked
 * it left (the same inode, size and times, no WAL beside it, the data dir's database), so its rows
 * and indexes can be checked right after serving. Otherwise why every check runs first.
 */
function whyCheckBeforeServing(path: string, cleanStop: CleanStop | null, remembered: DbIdentity | null | "unreadable", report: DataLossReport): string | null {
  if (cleanStop === null) return "no record of a clean stop (the last run crashed or was killed, did not finish its checks, or this is a new data dir)";
  if (report.wal !== null || report.lostContent !== null) return "damage was found";
  if (remembered === null || remembered === "unreadable" || remembered.dbId !== cleanStop.dbId) return "the clean stop's record is not for the database tq.db-id names";
  if ((fileSize(`${path}-wal`) ?? 0) > 0) return "a WAL file is beside the cleanly stopped database";
  return stampDifference(cleanStop.file, stampOf(path));
}

/**
 * The database must be the one the data dir remembers; a new database (or an adopted old one) is
 * remembered from now on. Returns its id.
 */
function checkIdentity(db: Database, path: string, remembered: DbIdentity | null | "unreadable", created: boolean, report: DataLossReport, accept: boolean): number {
  const row = db.query("SELECT value FROM meta WHERE key = 'db_id'").get() as { value: number } | null;
  if (row === null) throw new CorruptDatabaseError(path, ["the meta table has no db_id row"]);
  const dbId = row.value;
  if (remembered !== null && remembered !== "unreadable" && remembered.dbId !== dbId && report.lostContent === null) {
    report.lostContent = `the database file is not the one this data dir held (database id ${dbId}, expected ${remembered.dbId}, created ${new Date(remembered.createdAtMs).toISOString()}): the tasks of that database are not in it`;
    if (!accept) throw new DataLossError(path, report);
  }
  if (created || remembered === null || remembered === "unreadable" || remembered.dbId !== dbId) {
    writeIdentity(path, { dbId, createdAtMs: Date.now() });
  }
  return dbId;
}
