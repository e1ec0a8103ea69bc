// What a SqliteStore is opened with: the file, the durability mode and its timings, the listeners
// the broker wires to it, and the test seams. Types only.

import type { Clock } from "../../clock.ts";
import type { RetryPolicy } from "../../rules/transitions.ts";
import type { AfterOpenReport } from "./checks-after-open.ts";
import type { StoreEvents } from "../store.ts";
import type { FlushOn } from "./group-commit.ts";
import type { QuarantinedRow } from "./quarantine.ts";

export interface SqliteStoreOptions {
  /** Database file; ":memory:" for tests that need no durability. */
  path: string;
  /**
   * full: a group is acknowledged once an fsync of the WAL covers it (run off the event loop, see
   * wal-sync.ts). interval: at COMMIT; the checkpoint every walSyncIntervalMs fsyncs.
   */
  sync?: "full" | "interval";
  /** Period of the checkpoint timer (and of the fsync, with sync interval), in ms. */
  walSyncIntervalMs?: number;
  /** WAL size past which the checkpoint also truncates the file, in bytes. */
  maxWalBytes?: number;
  /**
   * Inline checkpoints: WAL growth that triggers one right after a commit, in bytes (default 4 MiB),
   * so each checkpoint copies little and holds the event loop briefly.
   */
  checkpointStepBytes?: number;
  /** What a failure leads to (rules/transitions.ts); default DEFAULT_RETRY_POLICY. Tests pin the jitter here. */
  retry?: RetryPolicy;
  /** The broker's clock: what recovery at open stamps on the rows it requeues. Default: the system's. */
  clock?: Pick<Clock, "now">;
  /** Ready, finished and due, each after the commit that made it true (StoreEvents). */
  events?: Partial<StoreEvents>;
  /** Told after each group is acknowledged, with the time from its COMMIT to then (metrics). */
  onCommit?: (ops: number, commitMs: number) => void;
  /**
   * The WAL fsync failed: nothing more will be acknowledged (see GroupCommit.onSyncFailed). The
   * owner should log it and exit so that recovery reads what the file really holds.
   */
  onFatal?: (err: unknown) => void;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  flushOn?: FlushOn;
  /**
   * Sync full: how long a group holding only results that may wait (Store.report's mayWait) may
   * stay open for the next submit, so that both share one COMMIT and one fsync, in ms (default 2;
   * 0 = commit at once).
   * A result is still acknowledged only once durable; only that acknowledgement can be later.
   */
  resultsWaitMs?: number;
  /**
   * Where checkpoints run: "worker" (default with sync full: a Worker thread with its own
   * connection copies and fsyncs; the main thread only finishes the job once the WAL file is long)
   * or "inline" (default with sync interval: on this thread between groups, every
   * walSyncIntervalMs and after each checkpointStepBytes of WAL growth; there the checkpoint is the
   * WAL's fsync and its period is the promise). See docs/storage.md for the measurements.
   */
  checkpointIn?: "worker" | "inline";
  /** SQLite page cache, in MiB (counts toward RSS). */
  cacheMiB?: number;
  /**
   * Go on when the checks at open find data lost (a damaged WAL, a database that lost its
   * content, task rows that fail their checksums): what is lost is then in `dataLoss`. Without it
   * such a start throws DataLossError. `tq-broker serve --accept-data-loss`.
   */
  acceptDataLoss?: boolean;
  /** Task rows found damaged while serving and moved to the quarantine table (log them loudly). */
  onQuarantine?: (rows: QuarantinedRow[]) => void;
  /**
   * A start after a clean stop checks rows and indexes right after serving (docs/storage.md,
   * "Checks at open"): told once they ended, with what they checked, found and repaired (rows
   * moved out are also told to onQuarantine). Log it: at level error when it found anything.
   */
  onChecksAfterOpen?: (report: AfterOpenReport) => void;
  /** Test seam: runs just before each COMMIT; a throw fails the group like a full disk would. */
  beforeCommit?: () => void;
  /** Test seam (sync full): replaces the WAL fdatasync. */
  syncWal?: (done: (err: Error | null) => void) => void;
}
