// Temp-dir SqliteStores for unit tests: every store a test opens is closed, and its directory
// deleted, after that test. Call storeHarness() once at the top of a test file.

import { afterEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore, type SqliteStore, type SqliteStoreOptions } from "../../src/store/sqlite/sqlite-store.ts";

export interface TempStores {
  /** A database path in a fresh temp directory. */
  tempPath(): string;
  open(options: Partial<SqliteStoreOptions> & { path: string }): SqliteStore;
}

export function storeHarness(): TempStores {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return {
    tempPath() {
      const dir = mkdtempSync(join(tmpdir(), "tq-sqlite-"));
      dirs.push(dir);
      return join(dir, "tasks.db");
    },
    open(options) {
      const store = openSqliteStore(options);
      stores.push(store);
      return store;
    },
  };
}
