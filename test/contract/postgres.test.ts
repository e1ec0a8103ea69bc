// Runs the Store contract against the PostgreSQL store: the run's test server (test/helpers/
// postgres.ts), one fresh schema per test; a reopen is the same broker (node id) starting again.

import { beforeAll } from "bun:test";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { dropSchema, freshSchema, testPostgres } from "../helpers/postgres.ts";
import { runStoreContract, type HarnessOptions, type StoreHarness } from "./store.contract.ts";

// The server starts once for the run (initdb alone takes seconds on a loaded machine): here, with
// its own time limit, rather than inside whichever contract test happens to run first.
beforeAll(() => testPostgres(), 120_000);

runStoreContract("postgres", async (options: HarnessOptions): Promise<StoreHarness> => {
  const { url } = await testPostgres();
  const schema = freshSchema("contract");
  const open = (): Promise<PostgresStore> =>
    openPostgresStore({ url, schema, nodeId: "contract-node", poolSize: 4, synchronousCommit: true, retry: options.retry, events: options.events });
  const opened: PostgresStore[] = [await open()];
  const harness: StoreHarness = {
    store: opened[0]!,
    async reopen() {
      await opened[opened.length - 1]!.close();
      const next = await open();
      opened.push(next);
      harness.store = next;
      return next;
    },
    async reopenUnclean() {
      const next = await open();
      opened.push(next);
      harness.store = next;
      return next;
    },
    async cleanup() {
      for (const s of opened) await s.close();
      await dropSchema(schema);
    },
  };
  return harness;
});
