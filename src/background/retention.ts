// Deletes finished tasks past their retention in bounded chunks spread over event-loop turns,
// then (auto_compact) gives the freed space back. Works against any Store; owns only its timer.

import type { Store } from "../store/store.ts";
import type { Clock, TimerHandle } from "../clock.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/** What retention needs from a store; reclaimSpace is optional (SQLite has it, others may not). */
export interface RetentionTarget {
  purgeFinished: Store["purgeFinished"];
  /** Returns at most `maxPages` free pages to the file system; resolves to how many it freed. */
  reclaimSpace?(maxPages: number): Promise<number>;
}

export interface RetentionOptions {
  store: RetentionTarget;
  /** The broker's clock: the cutoff is read from it and the passes run on its timers. */
  clock: Clock;
  retentionDays: number;
  intervalSecs: number;
  autoCompact: boolean;
  /** Rows deleted per transaction: bounds how long one chunk holds the event loop. */
  chunkRows?: number;
  /** Pages freed per incremental vacuum step. */
  chunkPages?: number;
  /** Safety bound on chunks per pass; the rest waits for the next pass. */
  maxChunksPerPass?: number;
  log?: (message: string, err: unknown) => void;
  /** Told after each timed pass (stats, debug log). */
  onPass?: (pass: RetentionPass) => void;
}

export interface RetentionPass {
  purged: number;
  pagesFreed: number;
}

export interface Retention {
  /** One full pass now (also what the timer runs). */
  runOnce(): Promise<RetentionPass>;
  stop(): Promise<void>;
}

/** Yields to the event loop so other clients are served between chunks. */
const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export function startRetention(options: RetentionOptions): Retention {
  const clock = options.clock;
  const chunkRows = options.chunkRows ?? 1000;
  const chunkPages = options.chunkPages ?? 256;
  const maxChunks = options.maxChunksPerPass ?? 100_000;
  let timer: TimerHandle | null = null;
  let stopped = false;
  let running: Promise<RetentionPass> | null = null;

  async function pass(): Promise<RetentionPass> {
    const beforeMs = clock.now() - options.retentionDays * DAY_MS;
    let purged = 0;
    let pagesFreed = 0;
    for (let chunk = 0; chunk < maxChunks && !stopped; chunk++) {
      const step = await options.store.purgeFinished(beforeMs, chunkRows);
      purged += step.purged;
      if (step.done) break;
      await yieldTurn();
    }
    if (options.autoCompact && options.store.reclaimSpace !== undefined && purged > 0) {
      for (let chunk = 0; chunk < maxChunks && !stopped; chunk++) {
        const n = await options.store.reclaimSpace(chunkPages);
        pagesFreed += n;
        if (n < chunkPages) break;
        await yieldTurn();
      }
    }
    return { purged, pagesFreed };
  }

  function runOnce(): Promise<RetentionPass> {
    if (running === null) running = pass().finally(() => (running = null));
    return running;
  }

  function schedule(): void {
    if (stopped) return;
    timer = clock.setTimeout(() => {
      runOnce()
        .then((done) => options.onPass?.(done))
        .catch((err: unknown) => options.log?.("retention pass failed", err))
        .finally(schedule);
    }, options.intervalSecs * 1000);
  }

  schedule();
  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer !== null) clock.clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
