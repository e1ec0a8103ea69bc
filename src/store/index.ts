// The storage layer's public surface: the Store contract and the default SQLite implementation.
// Re-exports only; the broker and the CLI import from here so a backend can be swapped in one place.

export * from "./store.ts";
export { openSqliteStore, SqliteStore, type CommitStats, type SqliteStoreOptions } from "./sqlite/sqlite-store.ts";
export { CorruptDatabaseError } from "./sqlite/schema.ts";
export type { FlushOn } from "./sqlite/group-commit.ts";
