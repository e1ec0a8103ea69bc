// HotRows: the claim columns of rows this process inserted as pending and nothing has claimed or
// changed since, the newest within a byte budget, so that a claim soon after its submit (a busy
// queue's usual case) reads memory instead of the file. A cache only: a row not here is read from
// SQLite. The store forgets a row at every other write to it, and all of them on a reload.

import type { ClaimRow } from "./task-row.ts";

/** Bytes a cached row costs beyond its payload and strings: the row object, id bytes, Map entry. */
const ROW_OVERHEAD_BYTES = 256;

function costOf(row: ClaimRow): number {
  return row.payload.byteLength + 2 * (row.type.length + row.queue.length + (row.idempotency_key?.length ?? 0)) + ROW_OVERHEAD_BYTES;
}

export class HotRows {
  private readonly rows = new Map<number, ClaimRow>();
  private heldBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Caches a row just inserted as pending; the oldest rows make room (they are the likeliest read from the file anyway). */
  add(row: ClaimRow): void {
    const cost = costOf(row);
    if (cost > this.maxBytes) return;
    for (const [seq] of this.rows) {
      if (this.heldBytes + cost <= this.maxBytes) break;
      this.forget(seq);
    }
    this.rows.set(row.seq, row);
    this.heldBytes += cost;
  }

  /** The row of `seq`, removed from the cache (a claimed row changes, so it is never served twice). */
  take(seq: number): ClaimRow | undefined {
    const row = this.rows.get(seq);
    if (row !== undefined) {
      this.rows.delete(seq);
      this.heldBytes -= costOf(row);
    }
    return row;
  }

  /** The row of `seq` is being written: the cached copy would be stale. */
  forget(seq: number): void {
    this.take(seq);
  }

  clear(): void {
    this.rows.clear();
    this.heldBytes = 0;
  }

  get size(): number {
    return this.rows.size;
  }

  get bytes(): number {
    return this.heldBytes;
  }
}
