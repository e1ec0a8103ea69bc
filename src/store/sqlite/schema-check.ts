// Compares the schema a file holds (sqlite_master) with the one its PRAGMA user_version names: the
// text of every table and index, as the numbered migrations create them. A damaged schema entry
// (a flipped byte in a column name or an index's condition) passes integrity_check and would fail
// every statement later, or change a query silently; a version that does not match its tables
// would be migrated wrongly. Both are refused here, before anything is written. Reads only.

import { Database } from "bun:sqlite";

interface SchemaEntry {
  type: string;
  name: string;
  tbl_name: string;
  sql: string | null;
}

// SQLite's own bookkeeping (statistics of ANALYZE) is not part of the schema the migrations make.
const SCHEMA_QUERY = "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_stat%' ORDER BY name";

const expected = new Map<number, SchemaEntry[]>();

/** The schema migrations 1..version create, from an empty in-memory database (each version once). */
function schemaOf(version: number, migrations: readonly string[]): SchemaEntry[] {
  let entries = expected.get(version);
  if (entries === undefined) {
    const db = new Database(":memory:");
    try {
      for (let v = 0; v < version; v++) db.exec(migrations[v]!);
      entries = db.query(SCHEMA_QUERY).all() as SchemaEntry[];
    } finally {
      db.close();
    }
    expected.set(version, entries);
  }
  return entries;
}

/**
 * What differs between the schema in `db` and schema version `version`, in words (empty when
 * they match). `migrations` are schema.ts's MIGRATIONS.
 */
export function schemaDifferences(db: Database, version: number, migrations: readonly string[]): string[] {
  const want = new Map(schemaOf(version, migrations).map((e) => [e.name, e]));
  const have = new Map((db.query(SCHEMA_QUERY).all() as SchemaEntry[]).map((e) => [e.name, e]));
  const differences: string[] = [];
  for (const [name, w] of want) {
    const h = have.get(name);
    if (h === undefined) differences.push(`${w.type} ${name} is missing`);
    else if (h.type !== w.type || h.tbl_name !== w.tbl_name || h.sql !== w.sql) differences.push(`${w.type} ${name} is not as that version defines it`);
  }
  for (const [name, h] of have) if (!want.has(name)) differences.push(`${h.type} ${name} is not one that version has`);
  return differences;
}
