// Keeps the WAL small and synced: PASSIVE checkpoints between groups (timer + WAL growth), TRUNCATE
// past the bound, optionally a worker thread for the copying. Owns only checkpoint timing and its
// figures; never runs inside an open group, never touches tasks.

import type { Database } from "bun:sqlite";
import { statSync } from "node:fs";
import { Checkpointer, type CheckpointResult } from "./checkpointer.ts";
import { WalBacklog } from "./wal-backlog.ts";

export interface WalKeeperOptions {
  db: Database;
  walPath: string;
  dbPath: string;
  mode: "inline" | "worker";
  intervalMs: number;
  maxWalBytes: number;
  /** Inline mode: WAL size that triggers a checkpoint right after a commit. */
  stepBytes: number;
  /** A checkpoint inside an open transaction would see its pages as busy: wait for the commit. */
  isGroupOpen: () => boolean;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface CheckpointFigures {
  checkpoints: number;
  /** Longest checkpoint run on the main thread, in ms: the event loop was held that long. */
  checkpointStallMaxMs: number;
  /** All checkpoint runs on the main thread together, in ms. */
  checkpointStallTotalMs: number;
  /** Longest checkpoint on the worker thread, in ms (holds nothing but the disk). */
  backgroundCheckpointMaxMs: number;
}

/** The figures of a store that has run no checkpoint (or has no WAL). */
export function noCheckpoints(): CheckpointFigures {
  return { checkpoints: 0, checkpointStallMaxMs: 0, checkpointStallTotalMs: 0, backgroundCheckpointMaxMs: 0 };
}

/**
 * Worker mode: WAL file size, in checkpoint steps, past which the main thread catches up. Each
 * catch-up holds the event loop for a copy and two fsyncs (~5-10 ms): 8 steps rather than 4 halved
 * their main-thread time in W3 (2026-12-04: 56-73 vs 100-111 ms per 100,000 tasks).
 */
const CATCH_UP_STEPS = 8;

export class WalKeeper {
  private timer: ReturnType<typeof setInterval> | null = null;
  private checkpointer: Checkpointer | null = null;
  private wanted = false;
  private stopped = false;
  private readonly backlog: WalBacklog;
  private readonly figures: CheckpointFigures = noCheckpoints();

  constructor(private readonly options: WalKeeperOptions) {
    this.backlog = new WalBacklog(`${options.dbPath}-shm`);
    if (options.mode === "worker") this.startWorker();
    else this.startInline();
  }

  get stats(): Readonly<CheckpointFigures> {
    return this.figures;
  }

  /** Called after every commit (the group is closed): the moment a checkpoint costs no waiting. */
  afterCommit(): void {
    if (this.wanted) {
      this.checkpoint();
      return;
    }
    // What a checkpoint would copy now (the file's size stays put after the WAL restarts).
    const uncopied = this.backlog.uncopiedBytes() ?? this.walBytes();
    if (this.checkpointer === null) {
      if (uncopied > this.options.stepBytes) this.checkpoint();
      return;
    }
    // Worker mode: growth starts the worker early (it ignores the call while one runs). The WAL
    // restarts from its beginning only after a checkpoint that caught up while no group was open;
    // a worker copying while groups keep coming rarely catches up, so the main thread finishes the
    // job after each worker checkpoint (see onResult), and at the latest at half the bound.
    if (uncopied > this.options.maxWalBytes / 2) this.checkpoint();
    else if (uncopied > this.options.stepBytes) void this.checkpointer.runNow();
  }

  /**
   * PASSIVE checkpoint on this thread (it fsyncs the WAL, which is what makes sync interval
   * durable), TRUNCATE once the WAL is past maxWalBytes. Deferred to the next commit when a group
   * is open.
   */
  checkpoint(): void {
    if (this.stopped) return;
    if (this.options.isGroupOpen()) {
      this.wanted = true;
      return;
    }
    this.wanted = false;
    const walBytes = this.walBytes();
    if (walBytes === 0) return;
    try {
      const startMs = performance.now();
      this.options.db.exec(walBytes > this.options.maxWalBytes ? "PRAGMA wal_checkpoint(TRUNCATE)" : "PRAGMA wal_checkpoint(PASSIVE)");
      const ms = performance.now() - startMs;
      this.figures.checkpointStallMaxMs = Math.max(this.figures.checkpointStallMaxMs, ms);
      this.figures.checkpointStallTotalMs += ms;
      this.figures.checkpoints++;
    } catch (err) {
      this.options.log?.("checkpoint failed", { error: String(err) });
    }
  }

  /** A checkpoint on the worker now; null when none ran (inline mode, no WAL, or one running). */
  checkpointInBackground(): Promise<CheckpointResult | null> {
    return this.checkpointer?.runNow() ?? Promise.resolve(null);
  }

  /** Stops the timers and the worker; the store truncates the WAL itself before closing. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    await this.checkpointer?.stop();
    this.backlog.close();
  }

  private walBytes(): number {
    try {
      return statSync(this.options.walPath).size;
    } catch {
      return 0;
    }
  }

  private startWorker(): void {
    try {
      this.checkpointer = new Checkpointer({
        path: this.options.dbPath,
        intervalMs: this.options.intervalMs,
        onResult: (r) => {
          this.figures.checkpoints++;
          this.figures.backgroundCheckpointMaxMs = Math.max(this.figures.backgroundCheckpointMaxMs, r.ms);
          // The worker copied what was there when it started; groups committed meanwhile are left.
          // Once the file is a few steps long, the main thread copies that remainder between two
          // groups (short, but two fsyncs on the event loop): a checkpoint that catches up lets the
          // next group restart the WAL from its beginning, so the file stops growing. Not after
          // every worker run: each catch-up is a stall, and a longer file costs nothing else.
          if (this.walBytes() > CATCH_UP_STEPS * this.options.stepBytes) this.wanted = true;
        },
        onFailed: (reason) => {
          this.options.log?.("checkpoint worker failed; checkpointing on the main thread", { reason });
          this.checkpointer = null;
          if (!this.stopped) this.startInline();
        },
      });
    } catch (err) {
      this.options.log?.("cannot start the checkpoint worker; checkpointing on the main thread", { error: String(err) });
      this.startInline();
    }
  }

  private startInline(): void {
    this.timer = setInterval(() => this.checkpoint(), this.options.intervalMs);
    (this.timer as { unref?: () => void }).unref?.();
  }
}
