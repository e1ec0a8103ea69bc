// One bounded retention step over the tasks table (SqliteStore.purgeFinished runs it inside a
// group). Dead and cancelled rows come from the open index; completed rows are in no index but the
// id's (a completion writes as little as possible), so they are found by walking seq order from a
// cursor. Owns the cursor; knows nothing of groups or memory.

import type { PurgeStep } from "../store.ts";
import { KILL_POINTS, killPoint } from "./kill-points.ts";
import { PURGE_SCAN_ROWS, type Statements } from "./statements.ts";
import { STATUS } from "./task-row.ts";

// Rows one step may walk per row it may delete: bounds a step when old rows are mostly live.
const SCAN_FACTOR = 8;

export class RetentionWalk {
  /** Where the walk goes on (a seq; 0 = from the start). */
  private cursor = 0;

  /** `onPurged` is told of each row deleted (the finished counts follow). */
  constructor(
    private readonly stmts: Statements,
    private readonly onPurged: (queue: string, status: number) => void = () => {},
  ) {}

  /**
   * Deletes up to `max` finished rows that finished before `beforeMs`. Rows older than the cutoff
   * are few once retention keeps up (live ones; deleted ones are gone), and the walk ends at the
   * first row created after the cutoff, since a task finishes after it is created. The next pass
   * starts from the beginning again: that is how a task live during one pass is found later.
   */
  step(beforeMs: number, max: number): PurgeStep {
    const gone = this.stmts.purgeDeadOrCancelled.all(beforeMs, max);
    for (const row of gone) this.onPurged(row.queue, row.status);
    let purged = gone.length;
    for (let scanned = 0; purged < max && scanned < max * SCAN_FACTOR; ) {
      const rows = this.stmts.purgeScan.values(this.cursor, PURGE_SCAN_ROWS) as [number, number, number | null, number, string][];
      if (rows.length === 0) return this.passDone(purged);
      for (const [seq, status, finishedAtMs, createdAtMs, queue] of rows) {
        if (createdAtMs >= beforeMs) return this.passDone(purged);
        this.cursor = seq;
        scanned++;
        if (status === STATUS.completed && finishedAtMs !== null && finishedAtMs < beforeMs) {
          this.stmts.deleteSeq.run(seq);
          this.onPurged(queue, status);
          if (++purged >= max) break;
        }
      }
    }
    if (purged > 0) killPoint(KILL_POINTS.compaction);
    return { purged, done: false };
  }

  private passDone(purged: number): PurgeStep {
    this.cursor = 0;
    if (purged > 0) killPoint(KILL_POINTS.compaction);
    return { purged, done: true };
  }
}
