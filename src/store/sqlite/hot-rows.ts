// HotRows: the claim columns of rows this process inserted as pending and nothing has claimed or
// changed since, the newest within a byte budget, so that a claim soon after its submit (a busy
// queue's usual case) reads memory instead of the file. A cache only: a row not here is read from
// SQLite. The store forgets a row at every other write to it, and all of them on a reload.

import type { ClaimRow } from "./task-row.ts";

/** Bytes a cached row costs beyond its payload and strings: the row object, id bytes, Map entry. */
const ROW_OVERHEAD_BYTES = 256;
/**
 * A full cache keeps its rows younger than this and turns new ones away: under a backlog the
 * oldest are claimed next (FIFO), so evicting them for the newest would make every claim miss.
 * Older rows make room: nobody is claiming them soon (an idle queue, or a backlog deeper than
 * the budget, which is read from the file in order anyway).
 */
const KEEP_YOUNGER_THAN_MS = 10_000;

function costOf(row: ClaimRow): number {
  return row.payload.byteLength + 2 * (row.type.length + row.queue.length + (row.idempotency_key?.length ?? 0)) + ROW_OVERHEAD_BYTES;
}

export class HotRows {
  private readonly rows = new Map<number, ClaimRow>();
  /**
   * Seqs in the order added, from `head` on; taken ones are skipped when met. Eviction walks this,
   * not the Map: a Map iterator steps over every entry deleted since the table was last rebuilt,
   * and claims delete from its front all the time.
   */
  private order: number[] = [];
  private head = 0;
  private heldBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Caches a row just inserted as pending at `nowMs`, if there is room (see KEEP_YOUNGER_THAN_MS). */
  add(row: ClaimRow, nowMs: number): void {
    const cost = costOf(row);
    if (cost > this.maxBytes) return;
    while (this.heldBytes + cost > this.maxBytes && this.head < this.order.length) {
      const oldest = this.rows.get(this.order[this.head]!);
      if (oldest !== undefined && nowMs - oldest.created_at < KEEP_YOUNGER_THAN_MS) return;
      this.head++;
      if (oldest !== undefined) this.forget(oldest.seq);
    }
    // Most rows leave by take(), not eviction: drop their seqs in bulk, amortized O(1) per add.
    if (this.order.length - this.head > 2 * this.rows.size + 4096) {
      this.order = this.order.slice(this.head).filter((seq) => this.rows.has(seq));
      this.head = 0;
    }
    this.rows.set(row.seq, row);
    this.order.push(row.seq);
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
    this.order = [];
    this.head = 0;
    this.heldBytes = 0;
  }

  get size(): number {
    return this.rows.size;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  /** Seqs held for eviction, taken ones included until the next compaction (tests check the bound). */
  get orderLength(): number {
    return this.order.length - this.head;
  }
}
