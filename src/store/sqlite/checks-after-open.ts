// The checks a start after a clean stop runs right after serving instead of before
// (open-checks.ts, docs/storage.md "Checks at open"): every row against its checksums, then every
// index against its table. Rows are read in chunks on a read-only connection of their own, a few
// milliseconds of the event loop at a time (the checksum is rowDamage, as on every read, and runs
// on this thread); indexes are compared on a worker thread (index-check.ts). Damage is reported to
// the store, which quarantines rows as it does those found while serving, and rebuilds indexes.
// Reads only; the store writes.

import { Database } from "bun:sqlite";
import { checkIndexesInBackground, indexCheckSql, indexSpecs, type RunningIndexCheck } from "./index-check.ts";
import { idText, type QuarantinedRow } from "./quarantine.ts";
import { rowDamage } from "./row-checksum.ts";
import type { TaskRow } from "./task-row.ts";

/** What the checks after open found and did. */
export interface AfterOpenReport {
  /** Rows read and checked against their checksums. */
  rowsChecked: number;
  /** From the first chunk to the end, in ms (the broker served meanwhile). */
  ms: number;
  /** Rows that failed their checksums: the store moved them to the quarantine table. */
  damagedRows: QuarantinedRow[];
  /** Indexes found out of step with their tables and rebuilt (REINDEX). */
  indexesRebuilt: string[];
  /** What the index check found, in words. */
  indexFindings: string[];
  /** completed: ran to their end; stopped: the store was closed first; failed: a read or a repair failed. */
  ended: "completed" | "stopped" | "failed";
  /** Why they failed; null unless they did. */
  failure: string | null;
}

export interface ChecksAfterOpenOptions {
  path: string;
  /** A row failed its checksums on this check's connection: the store reads it again through CheckedRows, which quarantines it. */
  onDamagedRow: (row: QuarantinedRow) => void;
  /** Moves the rows reported so far out of the tasks table, committed, before indexes are compared. */
  settleQuarantine: () => Promise<void>;
  /** Rebuilds these indexes, committed. */
  rebuildIndexes: (names: string[]) => Promise<void>;
}

/** Rows per read: about a millisecond of reading and checking. */
const CHUNK_ROWS = 512;
/** Event-loop time one slice may take before the broker's I/O gets its turn again. */
const SLICE_MS = 4;

export class ChecksAfterOpen {
  private db: Database | null = null;
  private indexCheck: RunningIndexCheck | null = null;
  private stopped = false;
  private readonly report: AfterOpenReport = { rowsChecked: 0, ms: 0, damagedRows: [], indexesRebuilt: [], indexFindings: [], ended: "completed", failure: null };
  /** Settles with the report once the checks ended, or were stopped. */
  readonly done: Promise<AfterOpenReport>;
  private finish: (report: AfterOpenReport) => void = () => {};
  private finished = false;

  constructor(private readonly options: ChecksAfterOpenOptions) {
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  /** True once the checks ran to their end, whatever they found and repaired. */
  get completed(): boolean {
    return this.finished && this.report.ended === "completed";
  }

  /** Starts on a later turn of the event loop: the open that called it finishes first. */
  start(): void {
    const startedMs = performance.now();
    setImmediate(() => void this.run(startedMs));
  }

  /**
   * Stops wherever the checks are (the store is closing) and waits until their connections are
   * closed; `done` settles with `ended: "stopped"`.
   */
  async stop(): Promise<void> {
    if (this.finished) return;
    this.stopped = true;
    await this.indexCheck?.stop();
    this.end("stopped", null, 0);
  }

  private async run(startedMs: number): Promise<void> {
    try {
      if (this.stopped) return;
      const db = new Database(this.options.path, { readonly: true, strict: true });
      this.db = db;
      db.exec("PRAGMA busy_timeout = 5000");
      // Its own small cache: the scan must not push the broker's working pages out of its own.
      db.exec("PRAGMA cache_size = -2048");
      await this.checkRows(db);
      if (this.stopped) return;
      await this.options.settleQuarantine();
      if (this.stopped) return;
      const tables = indexCheckSql(indexSpecs(db));
      this.indexCheck = checkIndexesInBackground(this.options.path, tables);
      const findings = await this.indexCheck.done;
      if (this.stopped) return;
      this.report.indexFindings = findings.details;
      if (findings.outOfStep.length > 0) {
        await this.options.rebuildIndexes(findings.outOfStep);
        this.report.indexesRebuilt = findings.outOfStep;
      }
      this.end("completed", null, performance.now() - startedMs);
    } catch (err) {
      if (!this.stopped) this.end("failed", String((err as Error)?.message ?? err), performance.now() - startedMs);
    }
  }

  /** Every row in seq order, in slices of the event loop. */
  private checkRows(db: Database): Promise<void> {
    const chunk = db.prepare("SELECT * FROM tasks WHERE seq > ? ORDER BY seq LIMIT ?");
    let after = 0;
    return new Promise((resolve, reject) => {
      const slice = (): void => {
        if (this.stopped) return resolve();
        try {
          const sliceStart = performance.now();
          do {
            const rows = chunk.all(after, CHUNK_ROWS) as TaskRow[];
            for (const row of rows) {
              const damage = rowDamage(row);
              if (damage === null) continue;
              const found = { seq: row.seq, id: idText(row.id), reason: damage };
              this.report.damagedRows.push(found);
              this.options.onDamagedRow(found);
            }
            this.report.rowsChecked += rows.length;
            if (rows.length < CHUNK_ROWS) return resolve();
            after = rows[rows.length - 1]!.seq;
          } while (performance.now() - sliceStart < SLICE_MS);
          setImmediate(slice);
        } catch (err) {
          reject(err);
        }
      };
      slice();
    });
  }

  private end(ended: AfterOpenReport["ended"], failure: string | null, ms: number): void {
    if (this.finished) return;
    this.finished = true;
    this.report.ended = ended;
    this.report.failure = failure;
    this.report.ms = ms;
    try {
      this.db?.close();
    } catch {
      // Closing a read-only connection frees memory only.
    }
    this.db = null;
    this.finish(this.report);
  }
}
