// The data dir's memory of its database: `<db>-id`, a small file written when the database is
// created, holding the id that the database's meta table also holds. When this file exists but the
// database is missing, empty or another one, the database has lost its content: SQLite would
// silently start an empty one. Owns only that file.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export interface DbIdentity {
  /** Random, chosen when the database is created; also in meta ('db_id'). */
  dbId: number;
  createdAtMs: number;
}

export function identityPath(dbPath: string): string {
  return `${dbPath}-id`;
}

/** The identity the data dir remembers: null when there is no file, "unreadable" when it cannot be read as one. */
export function readIdentity(dbPath: string): DbIdentity | null | "unreadable" {
  let text: string;
  try {
    text = readFileSync(identityPath(dbPath), "utf8");
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT" ? null : "unreadable";
  }
  try {
    const parsed = JSON.parse(text) as { db_id?: unknown; created_at_ms?: unknown };
    if (typeof parsed.db_id === "number" && Number.isSafeInteger(parsed.db_id) && typeof parsed.created_at_ms === "number") {
      return { dbId: parsed.db_id, createdAtMs: parsed.created_at_ms };
    }
  } catch {
    // Falls through: a garbled file is as good as an unreadable one.
  }
  return "unreadable";
}

/** Writes the identity whole (temp file, fsync, rename, fsync of the directory): never half a file. */
export function writeIdentity(dbPath: string, identity: DbIdentity): void {
  const path = identityPath(dbPath);
  const temp = `${path}.tmp`;
  writeFileSync(temp, `${JSON.stringify({ db_id: identity.dbId, created_at_ms: identity.createdAtMs })}\n`, { mode: 0o644 });
  const fd = openSync(temp, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  const dir = openSync(dirname(path), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
