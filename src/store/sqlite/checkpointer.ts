// Runs PASSIVE WAL checkpoints on a Worker thread with its own connection, so copying WAL pages
// into the database file and fsyncing it never holds the broker's event loop. Owns the worker and
// its timer; knows nothing of tasks; never truncates (that needs the writer idle: the store does
// it). The worker source is inline (bun:sqlite is built in): the compiled executable needs no
// extra entry point.

import { statSync } from "node:fs";

const WORKER_SOURCE = `
import { Database } from "bun:sqlite";
let db = null;
self.onmessage = (event) => {
  const { kind, path, mode } = event.data;
  if (kind === "close") {
    db?.close();
    db = null;
    postMessage({ kind: "closed" });
    return;
  }
  try {
    if (db === null) {
      db = new Database(path);
      // TRUNCATE waits for the writer's open group to commit instead of failing at once.
      db.exec("PRAGMA busy_timeout = 5000");
    }
    const started = performance.now();
    const [busy, logFrames, checkpointed] = db.query("PRAGMA wal_checkpoint(" + mode + ")").values()[0];
    postMessage({ kind: "done", mode, ms: performance.now() - started, busy, logFrames, checkpointed });
  } catch (err) {
    postMessage({ kind: "error", message: String(err && err.message || err) });
  }
};
`;

const STOP_WAIT_MS = 10_000;

export interface CheckpointResult {
  /** Time the worker spent in the checkpoint (not a stall of the main thread). */
  ms: number;
  /** 1 when it could not finish (a writer or reader was in the way); it is simply retried next time. */
  busy: number;
  logFrames: number;
  checkpointed: number;
}

export interface CheckpointerOptions {
  path: string;
  intervalMs: number;
  onResult: (result: CheckpointResult) => void;
  /** The worker failed: the owner falls back to checkpointing inline. */
  onFailed: (reason: string) => void;
}

type Reply = ({ kind: "done" } & CheckpointResult) | { kind: "error"; message: string } | { kind: "closed" };

export class Checkpointer {
  private readonly worker: Worker;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly walPath: string;
  private inFlight: ((reply: Reply) => void) | null = null;
  private failed = false;

  constructor(private readonly options: CheckpointerOptions) {
    this.walPath = `${options.path}-wal`;
    const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" }));
    this.worker = new Worker(url);
    this.worker.unref();
    this.worker.onmessage = (event: MessageEvent<Reply>) => {
      const done = this.inFlight;
      this.inFlight = null;
      done?.(event.data);
    };
    this.worker.onerror = (event) => this.fail(`checkpoint worker crashed: ${event.message}`);
    this.timer = setInterval(() => void this.runNow(), options.intervalMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Starts a checkpoint unless one is running; resolves with its result (null when skipped). */
  runNow(): Promise<CheckpointResult | null> {
    if (this.failed || this.inFlight !== null) return Promise.resolve(null);
    let walBytes: number;
    try {
      walBytes = statSync(this.walPath).size;
    } catch {
      return Promise.resolve(null);
    }
    if (walBytes === 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.inFlight = (reply) => {
        if (reply.kind === "done") {
          this.options.onResult(reply);
          resolve(reply);
        } else {
          if (reply.kind === "error") this.fail(reply.message);
          resolve(null);
        }
      };
      this.worker.postMessage({ kind: "checkpoint", path: this.options.path, mode: "PASSIVE" });
    });
  }

  /** Waits for a checkpoint in flight, closes the worker's connection and ends the thread. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (!this.failed) {
      const waitFor = (): Promise<Reply> => new Promise((resolve) => (this.inFlight = resolve));
      if (this.inFlight !== null) {
        const previous = this.inFlight;
        await new Promise<void>((resolve) => {
          this.inFlight = (reply) => {
            previous(reply);
            resolve();
          };
        });
        if (this.failed) {
          this.worker.terminate();
          return;
        }
      }
      const closed = waitFor();
      this.worker.postMessage({ kind: "close" });
      // A worker that stopped answering must not hang shutdown; terminate() below ends it anyway.
      let giveUp: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([closed, new Promise<void>((resolve) => (giveUp = setTimeout(resolve, STOP_WAIT_MS)))]);
      clearTimeout(giveUp);
    }
    this.worker.terminate();
  }

  private fail(reason: string): void {
    if (this.failed) return;
    this.failed = true;
    clearInterval(this.timer);
    const done = this.inFlight;
    this.inFlight = null;
    done?.({ kind: "error", message: reason });
    this.options.onFailed(reason);
  }
}
