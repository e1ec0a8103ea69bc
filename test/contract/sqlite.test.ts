// Runs the Store contract against the SQLite store, one fresh file in a temp dir per test.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore, type SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { runStoreContract, type HarnessOptions, type StoreHarness } from "./store.contract.ts";

runStoreContract("sqlite", async (options: HarnessOptions): Promise<StoreHarness> => {
  const dir = mkdtempSync(join(tmpdir(), "tq-contract-"));
  const path = join(dir, "tasks.db");
  const open = (): SqliteStore => openSqliteStore({ path, sync: "full", retry: options.retry, events: options.events });
  const opened: SqliteStore[] = [open()];
  const harness: StoreHarness = {
    store: opened[0]!,
    async reopen() {
      await opened[opened.length - 1]!.close();
      const next = open();
      opened.push(next);
      harness.store = next;
      return next;
    },
    async reopenUnclean() {
      const next = open();
      opened.push(next);
      harness.store = next;
      return next;
    },
    async cleanup() {
      for (const s of opened) await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
});
