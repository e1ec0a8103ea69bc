// Task rows taken out of service because they failed their checksums (row-checksum.ts): each is
// moved, as it was on disk, into the `quarantine` table (an operator can inspect it there) and
// reported; it is never served. Owns that table and the scan of every row at open; knows nothing
// of memory indexes or groups (the store calls moveOut inside one).

import type { Database, Statement } from "bun:sqlite";
import { uuidToString } from "../../protocol/uuid.ts";
import { rowDamage } from "./row-checksum.ts";
import type { TaskRow } from "./task-row.ts";

/** A task row moved (or about to be moved) out of service. */
export interface QuarantinedRow {
  seq: number;
  /** The id as the damaged row holds it (hex when it is not 16 bytes). */
  id: string;
  reason: string;
}

/** The columns of `tasks` as schema migration 3 had them, in the order the quarantine table repeats them. */
const QUARANTINE_COLUMNS =
  "seq, id, type, queue, payload, flags, priority, status, run_at, attempts, max_retries, lease_ms, lease_token, lease_expires_at, " +
  "worker_id, idempotency_key, result, error, created_at, updated_at, started_at, finished_at, fixed_crc, state_crc";
/** What a row of `tasks` holds for them now: the lease columns are gone (migration 4) and were NULL. */
const TASK_VALUES =
  "seq, id, type, queue, payload, flags, priority, status, run_at, attempts, max_retries, lease_ms, NULL, NULL, " +
  "worker_id, idempotency_key, result, error, created_at, updated_at, started_at, finished_at, fixed_crc, state_crc";

/**
 * Schema migration 3's table: no types and no constraints, so that it holds whatever the damaged
 * row held; `id` is indexed so that a read of a quarantined task can say why it is gone. Frozen:
 * a shipped migration never changes.
 */
export const QUARANTINE_TABLE_SQL = `CREATE TABLE quarantine (${QUARANTINE_COLUMNS}, reason, quarantined_at);
   CREATE INDEX quarantine_id ON quarantine(id);`;

/** Rows read per step of the scan at open: bounds memory whatever the table's size. */
const SCAN_CHUNK_ROWS = 4096;

/** A row's id as text: the UUID when it is 16 bytes, else what a damaged row holds, in hex. */
export function idText(id: unknown): string {
  if (!(id instanceof Uint8Array)) return `(not an id: ${JSON.stringify(String(id))})`;
  return id.byteLength === 16 ? uuidToString(id) : Buffer.from(id).toString("hex");
}

export class Quarantine {
  /** Rows found damaged and not yet moved, by seq. */
  private readonly found = new Map<number, QuarantinedRow>();
  private readonly rawBySeq: Statement<TaskRow>;
  private readonly scanChunk: Statement<TaskRow>;
  private readonly copy: Statement;
  private readonly remove: Statement;
  private readonly reasonById: Statement<{ reason: string }>;

  /** `onFound` is told once per row found damaged (the store schedules its move). */
  constructor(
    private readonly db: Database,
    private readonly onFound: (row: QuarantinedRow) => void,
  ) {
    this.rawBySeq = db.prepare("SELECT * FROM tasks WHERE seq = ?");
    this.scanChunk = db.prepare("SELECT * FROM tasks WHERE seq > ? ORDER BY seq LIMIT ?");
    this.copy = db.prepare(
      `INSERT INTO quarantine (${QUARANTINE_COLUMNS}, reason, quarantined_at) SELECT ${TASK_VALUES}, ?2, ?3 FROM tasks WHERE seq = ?1`,
    );
    this.remove = db.prepare("DELETE FROM tasks WHERE seq = ?");
    this.reasonById = db.prepare("SELECT reason FROM quarantine WHERE id = ? ORDER BY quarantined_at DESC LIMIT 1");
  }

  /**
   * The check every whole-row read goes through (Statements): true when `row` passes its
   * checksums; otherwise the row is remembered for moveOut and false is returned.
   */
  readonly passes = (row: TaskRow): boolean => {
    const damage = rowDamage(row);
    if (damage === null) return true;
    if (!this.found.has(row.seq)) {
      const found = { seq: row.seq, id: idText(row.id), reason: damage };
      this.found.set(row.seq, found);
      this.onFound(found);
    }
    return false;
  };

  /** Rows found and not yet moved. */
  get pending(): number {
    return this.found.size;
  }

  /** The rows found and not yet moved. */
  peek(): QuarantinedRow[] {
    return [...this.found.values()];
  }

  /**
   * Checks every row of the table (at open), in seq order and chunks; damaged ones are remembered
   * for moveOut, the others handed to `visit`. Returns how many rows were read.
   */
  scanAll(visit: (row: TaskRow) => void = () => {}): number {
    let rows = 0;
    for (let after = 0; ;) {
      const chunk = this.scanChunk.all(after, SCAN_CHUNK_ROWS);
      for (const row of chunk) if (this.passes(row)) visit(row);
      rows += chunk.length;
      if (chunk.length < SCAN_CHUNK_ROWS) return rows;
      after = chunk[chunk.length - 1]!.seq;
    }
  }

  /**
   * Moves the rows found since the last call into the quarantine table, inside the caller's
   * transaction. A row gone meanwhile, or rewritten whole since (it passes now), stays as it is.
   */
  moveOut(nowMs: number): QuarantinedRow[] {
    const moved: QuarantinedRow[] = [];
    for (const found of this.found.values()) {
      const row = this.rawBySeq.get(found.seq);
      if (row === null || rowDamage(row) === null) continue;
      this.copy.run(found.seq, found.reason, nowMs);
      this.removeRow(found.seq);
      moved.push(found);
    }
    this.found.clear();
    return moved;
  }

  /**
   * SQLite refuses to delete a row whose index entry is not where the row's fields say
   * (SQLITE_CORRUPT_INDEX): damage to an indexed field (id, status, idempotency key, finish time)
   * does that. Rebuilt from the table as it is, the indexes hold the row's entries again, and the
   * delete goes through; the failed statement alone was undone, the transaction goes on.
   */
  private removeRow(seq: number): void {
    try {
      this.remove.run(seq);
    } catch (err) {
      if (String((err as { code?: unknown }).code) !== "SQLITE_CORRUPT_INDEX") throw err;
      this.db.exec("REINDEX tasks");
      this.remove.run(seq);
    }
  }

  /** Why task `id` (16 bytes) is out of service, or null when it is not. */
  reasonFor(id: Uint8Array): string | null {
    const text = idText(id);
    for (const found of this.found.values()) if (found.id === text) return found.reason;
    return this.reasonById.get(id)?.reason ?? null;
  }
}
