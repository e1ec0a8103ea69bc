// Opens the broker's data directory: creates it, proves it writable and takes the lock file that
// keeps a second broker off it, and says whether its file system is nearly full. Owns only the
// directory and the lock; the store owns the files in it.

import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { statfs } from "node:fs/promises";
import { resolve } from "node:path";

export const LOCK_FILE_NAME = "tq-broker.lock";

export interface DataDir {
  /** Absolute path of the directory. */
  readonly path: string;
  readonly lockFile: string;
  /** Removes the lock; safe to call twice. */
  release(): void;
}

export class DataDirError extends Error {
  readonly dir: string;
  /** Set when another live broker holds the lock. */
  readonly otherPid: number | undefined;

  constructor(message: string, dir: string, otherPid?: number, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.dir = dir;
    this.otherPid = otherPid;
  }

  override get name(): string {
    return "DataDirError";
  }
}

export interface OpenDataDirOptions {
  /** Written into the lock; default this process. */
  pid?: number;
  /** Whether a pid is a running process; tests inject one. */
  isAlive?: (pid: number) => boolean;
}

/** Dirs this process holds: a pid check cannot tell "us" from "a stale lock of our own pid". */
const heldHere = new Set<string>();

export function openDataDir(dir: string, options: OpenDataDirOptions = {}): DataDir {
  const path = resolve(dir);
  const pid = options.pid ?? process.pid;
  const isAlive = options.isAlive ?? processIsAlive;
  const lockFile = resolve(path, LOCK_FILE_NAME);

  if (heldHere.has(path)) {
    throw new DataDirError(`data dir ${path} is already open in this process`, path, pid);
  }
  try {
    mkdirSync(path, { recursive: true });
  } catch (err) {
    throw new DataDirError(`cannot create data dir ${path}: ${errnoText(err)}`, path, undefined, err);
  }

  // The lock is written whole to a private temp file, then linked into place: link() fails if
  // the lock exists, so no one ever reads a half-written lock and mistakes it for a stale one.
  const tempFile = resolve(path, `${LOCK_FILE_NAME}.${pid}.tmp`);
  try {
    writeFileSync(tempFile, `${pid}\n`, { mode: 0o644 });
  } catch (err) {
    throw new DataDirError(`data dir ${path} is not writable: ${errnoText(err)}`, path, undefined, err);
  }
  try {
    // Two tries: the second follows removing a stale lock. Failing again means another broker
    // raced us to the same stale lock and won.
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(tempFile, lockFile);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
          throw new DataDirError(`data dir ${path}: cannot create lock ${lockFile}: ${errnoText(err)}`, path, undefined, err);
        }
        const holder = readLockPid(lockFile);
        // Our own pid in the lock is a leftover from an earlier run that reused this pid
        // (common in containers where the broker is always pid 1): not alive as a broker.
        if (holder !== undefined && holder !== pid && isAlive(holder)) {
          throw new DataDirError(
            `data dir ${path} is in use by another tq-broker (pid ${holder}); stop it or use another persistence.data_dir`,
            path,
            holder,
          );
        }
        if (attempt === 1) {
          throw new DataDirError(`data dir ${path}: another process took the lock ${lockFile} while we replaced a stale one`, path);
        }
        rmSync(lockFile, { force: true });
        continue;
      }
      heldHere.add(path);
      let released = false;
      return {
        path,
        lockFile,
        release() {
          if (released) return;
          released = true;
          heldHere.delete(path);
          // Only remove the lock if it is still ours: never delete another broker's lock.
          if (readLockPid(lockFile) === pid) rmSync(lockFile, { force: true });
        },
      };
    }
  } finally {
    rmSync(tempFile, { force: true });
  }
  throw new DataDirError(`data dir ${path}: could not take the lock ${lockFile}`, path);
}

/** The pid written in a lock file; undefined if missing, empty or garbled (treated as stale). */
function readLockPid(lockFile: string): number | undefined {
  try {
    const text = readFileSync(lockFile, "utf8").trim();
    const pid = Number(text.split("\n")[0]);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user, which still means the dir is in use.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const why: Record<string, string> = {
    EACCES: "permission denied",
    EROFS: "read-only file system",
    ENOTDIR: "a part of the path is a file, not a directory",
    ENOSPC: "no space left on device",
    EEXIST: "a file of that name exists",
  };
  return (e.code !== undefined ? why[e.code] : undefined) ?? e.message ?? String(err);
}

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** Free space on the data dir's file system, as the broker's user may use it. */
export interface DiskSpace {
  availableBytes: number;
  totalBytes: number;
}

export async function diskSpace(path: string): Promise<DiskSpace> {
  const s = await statfs(path);
  return { availableBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}

/**
 * Free bytes under which the data dir counts as nearly full (GET /readyz says not ready): 2% of
 * the file system, at least max(256 MiB, 2 x max_wal_bytes) (a WAL grown to its bound, the
 * checkpoint that copies it, and a few 16 MiB tasks) and at most 4 GiB (past that a share only
 * wastes a large disk), or that floor if it is higher.
 */
export function minFreeBytes(totalBytes: number, maxWalBytes: number): number {
  const floor = Math.max(256 * MIB, 2 * maxWalBytes);
  return Math.min(Math.max(0.02 * totalBytes, floor), Math.max(4 * GIB, floor));
}

/** A readiness check of the data dir's free space: null when there is enough, else why not. */
export async function lowDiskSpace(path: string, maxWalBytes: number, read: (path: string) => Promise<DiskSpace> = diskSpace): Promise<string | null> {
  let space: DiskSpace;
  try {
    space = await read(path);
  } catch (err) {
    return `cannot read the free space of ${path}: ${errnoText(err)}`;
  }
  const need = minFreeBytes(space.totalBytes, maxWalBytes);
  if (space.availableBytes >= need) return null;
  const mib = (n: number): string => `${(n / MIB).toFixed(1)} MiB`;
  return `the data dir's file system is nearly full: ${mib(space.availableBytes)} free of ${mib(space.totalBytes)} at ${path}, under the ${mib(need)} the broker keeps in reserve (2% of the file system, at least 256 MiB or 2 x persistence.max_wal_bytes, at most 4 GiB)`;
}
