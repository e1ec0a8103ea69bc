// A min-heap of (dueMs, seq) pairs in one growable Float64Array: 16 bytes per entry, no objects.
// Used for run_at promotions and lease expiries. It never invalidates entries itself: the owner
// checks a popped seq against its own state (lazy invalidation), which keeps cancel O(1).

export class TimerHeap {
  // Pair i lives at [2i] = dueMs, [2i+1] = seq.
  private data: Float64Array;
  private count = 0;

  constructor(initialCapacity = 64) {
    this.data = new Float64Array(Math.max(2, initialCapacity) * 2);
  }

  get size(): number {
    return this.count;
  }

  clear(): void {
    this.count = 0;
    if (this.data.length > 2048) this.data = new Float64Array(128);
  }

  push(dueMs: number, seq: number): void {
    if (this.count * 2 === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    let i = this.count++;
    const d = this.data;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(dueMs, seq, d[parent * 2]!, d[parent * 2 + 1]!)) break;
      d[i * 2] = d[parent * 2]!;
      d[i * 2 + 1] = d[parent * 2 + 1]!;
      i = parent;
    }
    d[i * 2] = dueMs;
    d[i * 2 + 1] = seq;
  }

  /** Due time of the earliest entry, or null when empty. */
  peekDueMs(): number | null {
    return this.count === 0 ? null : this.data[0]!;
  }

  /** Removes the earliest entry and returns its seq; -1 when empty. */
  pop(): number {
    if (this.count === 0) return -1;
    const d = this.data;
    const top = d[1]!;
    const last = --this.count;
    if (last > 0) {
      d[0] = d[last * 2]!;
      d[1] = d[last * 2 + 1]!;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(from: number): void {
    const d = this.data;
    const n = this.count;
    const dueMs = d[from * 2]!;
    const seq = d[from * 2 + 1]!;
    let i = from;
    for (;;) {
      const left = i * 2 + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && less(d[right * 2]!, d[right * 2 + 1]!, d[left * 2]!, d[left * 2 + 1]!)) child = right;
      if (!less(d[child * 2]!, d[child * 2 + 1]!, dueMs, seq)) break;
      d[i * 2] = d[child * 2]!;
      d[i * 2 + 1] = d[child * 2 + 1]!;
      i = child;
    }
    d[i * 2] = dueMs;
    d[i * 2 + 1] = seq;
  }

  /** Drops every entry `keep` rejects, in O(size): the owner's way to shed stale entries in bulk. */
  retain(keep: (dueMs: number, seq: number) => boolean): void {
    const d = this.data;
    let kept = 0;
    for (let i = 0; i < this.count; i++) {
      const dueMs = d[i * 2]!;
      const seq = d[i * 2 + 1]!;
      if (!keep(dueMs, seq)) continue;
      d[kept * 2] = dueMs;
      d[kept * 2 + 1] = seq;
      kept++;
    }
    this.count = kept;
    for (let i = (kept >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** Bytes held by the backing array (memory accounting). */
  get capacityBytes(): number {
    return this.data.byteLength;
  }
}

// Ties broken by seq so equal due times come out in submit order.
function less(aDue: number, aSeq: number, bDue: number, bSeq: number): boolean {
  return aDue < bDue || (aDue === bDue && aSeq < bSeq);
}
