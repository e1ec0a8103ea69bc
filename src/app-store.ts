// The store startApp runs on, as persistence.backend says: SQLite in the locked data dir (one
// broker), or PostgreSQL shared by several brokers (node id raft.node_id). Opens it, logs what it
// found, and says what else it brings (a disk to watch, the workers' cluster record, figures).

import { join } from "node:path";
import type { Clock } from "./clock.ts";
import type { Config } from "./config/index.ts";
import { maskUrlPassword } from "./config/mask-secrets.ts";
import type { Logger } from "./log.ts";
import type { RetryPolicy } from "./rules/transitions.ts";
import type { WorkerPresence } from "./store/cluster.ts";
import { lowDiskSpace, openDataDir } from "./store/data-dir.ts";
import { openPostgresStore } from "./store/postgres/postgres-store.ts";
import { describeLoss } from "./store/sqlite/open-checks.ts";
import { openSqliteStore } from "./store/sqlite/sqlite-store.ts";
import type { Store, StoreEvents } from "./store/store.ts";

/** The database file inside persistence.data_dir. */
export const DATABASE_FILE = "tq.db";

export interface StoreWiring {
  clock: Clock;
  retry: RetryPolicy;
  events: StoreEvents;
  onCommit(ops: number, commitMs: number): void;
  /** SQLite's WAL fsync failed: the owner answers what it holds and exits. */
  onFatal(err: unknown): void;
  acceptDataLoss: boolean;
  beforeCommit?: () => void;
}

export interface OpenedStore {
  store: Store & { reclaimSpace?(maxPages: number): Promise<number> };
  /** Where each worker last spoke, cluster-wide (PostgreSQL); null with one broker. */
  presence: WorkerPresence | null;
  /** The locked data dir (SQLite), or the configured path, unused (PostgreSQL). */
  dataDir: string;
  /** A reason the store's disk is nearly full, for readiness; null when the disk is not ours to watch. */
  disk: (() => Promise<string | null>) | null;
  /** Figures for stats: commit latency (SQLite). */
  stats(): Record<string, unknown>;
  close(): Promise<void>;
}

export async function openConfiguredStore(config: Config, log: Logger, wiring: StoreWiring): Promise<OpenedStore> {
  return config.persistence.backend === "postgres" ? openPostgres(config, log, wiring) : openSqlite(config, log, wiring);
}

/**
 * The PostgreSQL store could not be opened at start (unreachable, refused the login, a schema
 * newer than this broker): serve exits 1 with this message, naming the URL (password masked).
 */
export class PostgresOpenError extends Error {
  override get name(): string {
    return "PostgresOpenError";
  }
}

async function openPostgres(config: Config, log: Logger, wiring: StoreWiring): Promise<OpenedStore> {
  const pg = config.persistence.postgres;
  const nodeId = config.raft.node_id;
  let store;
  try {
    store = await openPostgresStore({
      url: pg.url,
      schema: pg.schema,
      nodeId,
      poolSize: pg.pool_size,
      synchronousCommit: pg.synchronous_commit,
      clock: wiring.clock,
      retry: wiring.retry,
      events: wiring.events,
      onCommit: wiring.onCommit,
      log: (msg, fields, level) => log[level ?? "warn"](msg, { component: "store", ...fields }),
    });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new PostgresOpenError(`cannot open the PostgreSQL store at ${maskUrlPassword(pg.url)} (schema ${pg.schema}): ${maskPassword(reason, pg.url)}`, { cause: err });
  }
  log.info("store opened", {
    backend: "postgres",
    url: maskUrlPassword(pg.url),
    schema: pg.schema,
    node_id: nodeId,
    synchronous_commit: pg.synchronous_commit,
    leases_handed_back: store.recoveredLeases,
    ...(await store.counts()),
    queues: undefined,
  });
  return {
    store,
    presence: store,
    dataDir: config.persistence.data_dir,
    disk: null,
    stats: () => ({}),
    close: () => store.close(),
  };
}

function openSqlite(config: Config, log: Logger, wiring: StoreWiring): Promise<OpenedStore> {
  const dataDir = openDataDir(config.persistence.data_dir);
  const path = join(dataDir.path, DATABASE_FILE);
  let store;
  try {
    store = openSqliteStore({
      path,
      sync: config.persistence.sync,
      walSyncIntervalMs: config.persistence.wal_sync_interval_ms,
      maxWalBytes: config.persistence.max_wal_bytes,
      acceptDataLoss: wiring.acceptDataLoss,
      clock: wiring.clock,
      onQuarantine: (rows) => log.error("task records failed their checksums while serving: moved to the quarantine table, never served", { component: "store", tasks: rows }),
      onChecksAfterOpen: (r) => {
        const fields = { component: "store", rows_checked: r.rowsChecked, ms: Math.round(r.ms) };
        if (r.ended === "stopped") log.warn("checks after start were cut short by the stop: the next start checks everything before serving", fields);
        else if (r.ended === "failed") log.error("checks after start failed: the next start checks everything before serving", { ...fields, reason: r.failure });
        else if (r.damagedRows.length > 0 || r.indexesRebuilt.length > 0) {
          log.error("checks after start found damaged data: rows moved to the quarantine table, indexes rebuilt", {
            ...fields,
            tasks: r.damagedRows,
            indexes_rebuilt: r.indexesRebuilt,
            found: r.indexFindings,
          });
        } else log.info("checks after start found every row and index whole", fields);
      },
      retry: wiring.retry,
      events: wiring.events,
      onCommit: wiring.onCommit,
      onFatal: wiring.onFatal,
      log: (msg, fields) => log.debug(msg, { component: "store", ...fields }),
      ...(wiring.beforeCommit ? { beforeCommit: wiring.beforeCommit } : {}),
    });
  } catch (err) {
    dataDir.release();
    throw err;
  }
  const opened = store;
  if (opened.dataLoss !== null) {
    log.error("started after checks at open found damaged data", { component: "store", accepted: wiring.acceptDataLoss, found: describeLoss(opened.dataLoss), ...opened.dataLoss });
  }
  return opened.counts().then((counts) => {
    log.info("store opened", {
      path,
      sync: config.persistence.sync,
      ...counts,
      queues: undefined,
      rows_and_indexes_checked: opened.openChecks.rowsAndIndexes,
      ...(opened.openChecks.beforeServingBecause === null ? {} : { because: opened.openChecks.beforeServingBecause }),
      rows_checked: opened.openChecks.rowsChecked,
      check_ms: Math.round(opened.openChecks.checkMs),
      open_ms: opened.openChecks.phasesMs,
      memory_from: opened.memoryFrom.source,
      ...(opened.memoryFrom.snapshotUnused === null ? {} : { memory_snapshot_unused: opened.memoryFrom.snapshotUnused }),
    });
    return {
      store: opened,
      presence: null,
      dataDir: dataDir.path,
      disk: () => lowDiskSpace(dataDir.path, config.persistence.max_wal_bytes),
      stats: () => ({ commits: opened.commitStats() }),
      async close() {
        try {
          await opened.close();
        } finally {
          dataDir.release();
        }
      },
    };
  });
}

/** `text` with the URL's password, should a driver message quote it, masked. */
function maskPassword(text: string, url: string): string {
  let password = "";
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {
    return text;
  }
  return password === "" ? text : text.split(password).join("***");
}
