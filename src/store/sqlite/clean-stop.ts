// The record of a clean stop, `<db>-closed`: written by close() once the WAL is emptied into the
// database and every check of the run finished clean; taken (read, then removed durably) at the
// next open before anything writes. It names the file as the broker left it: device, inode, size,
// mtime and ctime. Any write through the file system changes the ctime, which no one can set back
// (a copy or a restored backup is another inode), so while the record holds, the file is exactly
// what a broker that had checked it left. Owns only that file; decides nothing about the checks.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** The file as stat sees it; numbers as decimal strings (nanoseconds do not fit a double). */
export interface FileStamp {
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
}

export interface CleanStop {
  /** The database's id (meta 'db_id', and tq.db-id). */
  dbId: number;
  closedAtMs: number;
  file: FileStamp;
}

/**
 * How long after the file's last change the record is stamped, at least. Kernels without
 * fine-grained timestamps stamp a write with the clock of the last tick (1-10 ms): a write in the
 * same tick as the broker's last one would leave the ctime as recorded.
 */
const TIMESTAMP_TICK_MS = 20;

export function cleanStopPath(dbPath: string): string {
  return `${dbPath}-closed`;
}

/** The file's stamp, or null when it cannot be read. */
export function stampOf(path: string): FileStamp | null {
  try {
    const s = statSync(path, { bigint: true });
    return { dev: String(s.dev), ino: String(s.ino), size: String(s.size), mtimeNs: String(s.mtimeNs), ctimeNs: String(s.ctimeNs) };
  } catch {
    return null;
  }
}

/** What differs between two stamps, in words; null when they are the same file, unchanged. */
export function stampDifference(recorded: FileStamp, now: FileStamp | null): string | null {
  if (now === null) return "the database file cannot be read";
  if (now.dev !== recorded.dev || now.ino !== recorded.ino) return "the database file was replaced (another inode)";
  if (now.size !== recorded.size) return "the database file changed size";
  if (now.mtimeNs !== recorded.mtimeNs || now.ctimeNs !== recorded.ctimeNs) return "the database file was written to or its metadata changed";
  return null;
}

/**
 * Writes the record for the closed database at `dbPath` whole (temp file, fsync, rename, fsync of
 * the directory). Call after the last connection closed. `beforeRecord` is handed the stamp the
 * record will hold, just before it is written (the memory snapshot binds itself to it).
 */
export async function writeCleanStop(dbPath: string, dbId: number, beforeRecord?: (file: FileStamp) => void): Promise<void> {
  const before = stampOf(dbPath);
  if (before === null) return;
  const sinceChangeMs = Date.now() - Number(BigInt(before.ctimeNs) / 1_000_000n);
  if (sinceChangeMs < TIMESTAMP_TICK_MS) await Bun.sleep(TIMESTAMP_TICK_MS - Math.max(0, sinceChangeMs));
  const file = stampOf(dbPath);
  if (file === null) return;
  beforeRecord?.(file);
  const record: CleanStop = { dbId, closedAtMs: Date.now(), file };
  const path = cleanStopPath(dbPath);
  const temp = `${path}.tmp`;
  writeFileSync(temp, `${JSON.stringify(record)}\n`, { mode: 0o644 });
  const fd = openSync(temp, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  syncDirectory(path);
}

/**
 * Reads the record and removes it, durably, before the database is opened: whatever happens to
 * the file from now on (a crash, a power loss) finds no record at the next open. Null when there
 * is none or it cannot be read as one.
 */
export function takeCleanStop(dbPath: string): CleanStop | null {
  const path = cleanStopPath(dbPath);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return null;
  }
  try {
    unlinkSync(path);
    syncDirectory(path);
  } catch {
    // A record that cannot be removed would outlive this run: it is not used.
    return null;
  }
  try {
    const r = JSON.parse(text) as Partial<CleanStop>;
    const f = r.file;
    const fields = f === undefined ? [] : [f.dev, f.ino, f.size, f.mtimeNs, f.ctimeNs];
    if (typeof r.dbId === "number" && typeof r.closedAtMs === "number" && fields.length === 5 && fields.every((x) => typeof x === "string")) {
      return { dbId: r.dbId, closedAtMs: r.closedAtMs, file: f! };
    }
  } catch {
    // A garbled record is no record.
  }
  return null;
}

function syncDirectory(path: string): void {
  const dir = openSync(dirname(path), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
