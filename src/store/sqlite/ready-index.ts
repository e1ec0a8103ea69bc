// Ready tasks per named queue: 256 priority levels, FIFO inside a level, found through a 256-bit
// bitmap of non-empty levels. Holds only row handles (seq) and the time each became ready —
// 16 bytes per task, never payloads. Pure and in memory; the store decides what goes in.

import { tierOf, type PriorityTier } from "../../protocol/limits.ts";

const LEVELS = 256;
const MIN_RING = 16;
// An emptied level bigger than this is dropped so a drained backlog gives its memory back.
const KEEP_EMPTY_RING = 4096;

/** Ring lengths are powers of two (index masks), at least MIN_RING. */
export function isRingCapacity(n: number): boolean {
  return n >= MIN_RING && (n & (n - 1)) === 0;
}

/** The ring length that holds n entries. */
export function ringCapacityFor(n: number): number {
  let cap = MIN_RING;
  while (cap < n) cap *= 2;
  return cap;
}

/** A growable ring of (seq, readyAtMs) pairs. */
class LevelRing {
  seqs: Float64Array;
  readyAt: Float64Array;
  head = 0;
  size = 0;

  constructor(capacity = MIN_RING) {
    this.seqs = new Float64Array(capacity);
    this.readyAt = new Float64Array(capacity);
  }

  push(seq: number, readyAtMs: number): void {
    const cap = this.seqs.length;
    if (this.size === cap) this.grow();
    const at = (this.head + this.size) & (this.seqs.length - 1);
    this.seqs[at] = seq;
    this.readyAt[at] = readyAtMs;
    this.size++;
  }

  shift(): void {
    this.head = (this.head + 1) & (this.seqs.length - 1);
    this.size--;
  }

  unshift(seq: number, readyAtMs: number): void {
    if (this.size === this.seqs.length) this.grow();
    this.head = (this.head - 1) & (this.seqs.length - 1);
    this.seqs[this.head] = seq;
    this.readyAt[this.head] = readyAtMs;
    this.size++;
  }

  /**
   * A ring holding the first `size` entries of these arrays, taken as they are (no copy); their
   * length must be a power of two, at least MIN_RING.
   */
  static adopt(seqs: Float64Array, readyAt: Float64Array, size: number): LevelRing {
    const ring = new LevelRing(0);
    ring.seqs = seqs;
    ring.readyAt = readyAt;
    ring.size = size;
    return ring;
  }

  /** Pushes every (seqs[i], readyAt[i]) in order, growing the ring once. */
  pushAll(seqs: Float64Array, readyAt: Float64Array): void {
    const n = seqs.length;
    let cap = this.seqs.length;
    while (cap < this.size + n) cap *= 2;
    if (cap !== this.seqs.length) this.grow(cap);
    const mask = this.seqs.length - 1;
    const tail = (this.head + this.size) & mask;
    if (tail + n <= this.seqs.length) {
      this.seqs.set(seqs, tail);
      this.readyAt.set(readyAt, tail);
    } else {
      for (let i = 0; i < n; i++) {
        this.seqs[(tail + i) & mask] = seqs[i]!;
        this.readyAt[(tail + i) & mask] = readyAt[i]!;
      }
    }
    this.size += n;
  }

  private grow(to = this.seqs.length * 2): void {
    const cap = this.seqs.length;
    const seqs = new Float64Array(to);
    const readyAt = new Float64Array(to);
    for (let i = 0; i < this.size; i++) {
      const from = (this.head + i) & (cap - 1);
      seqs[i] = this.seqs[from]!;
      readyAt[i] = this.readyAt[from]!;
    }
    this.seqs = seqs;
    this.readyAt = readyAt;
    this.head = 0;
  }
}

export interface ReadyEntry {
  seq: number;
  priority: number;
  readyAtMs: number;
}

/** One queue's ready tasks. */
export class QueueReady {
  private readonly levels: (LevelRing | undefined)[] = new Array(LEVELS);
  // Bit p set = level p holds entries (some may be tombstoned; cleaned when they reach the head).
  private readonly bitmap = new Uint32Array(LEVELS / 32);
  // seq -> how many of its entries are dead (cancelled while pending). Rare, so a Map is fine.
  private readonly tombstones = new Map<number, number>();
  private readonly tiers: Record<PriorityTier, number> = { high: 0, normal: 0, low: 0 };
  private liveCount = 0;

  /** Ready tasks, excluding removed ones. */
  get size(): number {
    return this.liveCount;
  }

  tierCounts(): Readonly<Record<PriorityTier, number>> {
    return this.tiers;
  }

  push(seq: number, priority: number, readyAtMs: number): void {
    let ring = this.levels[priority];
    if (ring === undefined) {
      ring = new LevelRing();
      this.levels[priority] = ring;
    }
    ring.push(seq, readyAtMs);
    this.bitmap[priority >>> 5]! |= 1 << (priority & 31);
    this.tiers[tierOf(priority)]++;
    this.liveCount++;
  }

  /**
   * push() of each entry in order, at one level (a whole level from memory-snapshot.ts). When the
   * level is empty and `capacity` says the arrays may be kept (a power of two, at least 16, with
   * the entries at their start), the level takes them as its ring, without a copy.
   */
  pushAll(priority: number, seqs: Float64Array, readyAt: Float64Array, capacity?: { seqs: Float64Array; readyAt: Float64Array }): void {
    if (seqs.length === 0) return;
    let ring = this.levels[priority];
    if ((ring === undefined || ring.size === 0) && capacity !== undefined && isRingCapacity(capacity.seqs.length) && capacity.readyAt.length === capacity.seqs.length && capacity.seqs.length >= seqs.length) {
      this.levels[priority] = LevelRing.adopt(capacity.seqs, capacity.readyAt, seqs.length);
    } else if (ring === undefined) {
      ring = new LevelRing();
      this.levels[priority] = ring;
      ring.pushAll(seqs, readyAt);
    } else ring.pushAll(seqs, readyAt);
    this.bitmap[priority >>> 5]! |= 1 << (priority & 31);
    this.tiers[tierOf(priority)] += seqs.length;
    this.liveCount += seqs.length;
  }

  /** Puts an entry just popped back at the head of its level, where it was. */
  unpop(entry: ReadyEntry): void {
    const priority = entry.priority;
    let ring = this.levels[priority];
    if (ring === undefined) {
      ring = new LevelRing();
      this.levels[priority] = ring;
    }
    ring.unshift(entry.seq, entry.readyAtMs);
    this.bitmap[priority >>> 5]! |= 1 << (priority & 31);
    this.tiers[tierOf(priority)]++;
    this.liveCount++;
  }

  /** Marks a ready seq as gone (cancelled). The caller guarantees it is in this queue at `priority`. */
  remove(seq: number, priority: number): void {
    this.tombstones.set(seq, (this.tombstones.get(seq) ?? 0) + 1);
    this.tiers[tierOf(priority)]--;
    this.liveCount--;
  }

  /** Highest level with a live entry at its head, or -1. Drops dead heads on the way. */
  bestLevel(): number {
    for (let w = LEVELS / 32 - 1; w >= 0; w--) {
      let word = this.bitmap[w]!;
      while (word !== 0) {
        const level = w * 32 + 31 - Math.clz32(word);
        if (this.cleanHead(level)) return level;
        word = this.bitmap[w]!;
      }
    }
    return -1;
  }

  /** Head of a level returned by bestLevel(). */
  head(level: number): ReadyEntry {
    const ring = this.levels[level]!;
    return { seq: ring.seqs[ring.head]!, priority: level, readyAtMs: ring.readyAt[ring.head]! };
  }

  headReadyAtMs(level: number): number {
    const ring = this.levels[level]!;
    return ring.readyAt[ring.head]!;
  }

  /** Removes and returns the best live entry, or null. */
  pop(): ReadyEntry | null {
    const level = this.bestLevel();
    if (level < 0) return null;
    const entry = this.head(level);
    this.dropHead(level);
    this.tiers[tierOf(level)]--;
    this.liveCount--;
    return entry;
  }

  /** Epoch ms the longest-waiting live entry became ready, or null. Scans the 256 level heads. */
  oldestReadyAtMs(): number | null {
    let oldest: number | null = null;
    for (let level = 0; level < LEVELS; level++) {
      if ((this.bitmap[level >>> 5]! & (1 << (level & 31))) === 0) continue;
      if (!this.cleanHead(level)) continue;
      const at = this.headReadyAtMs(level);
      if (oldest === null || at < oldest) oldest = at;
    }
    return oldest;
  }

  /**
   * Entries a pop takes before `seq` (at `priority`): those at higher levels, and those before it at
   * its own; null when it is not there. Reads only (an operator's question, never a claim's): a
   * cancelled entry not yet cleared from its ring still counts.
   */
  ahead(seq: number, priority: number): { higher: number; same: number } | null {
    const ring = this.levels[priority];
    if (ring === undefined) return null;
    let higher = 0;
    for (let level = priority + 1; level < LEVELS; level++) higher += this.levels[level]?.size ?? 0;
    const mask = ring.seqs.length - 1;
    for (let i = 0; i < ring.size; i++) if (ring.seqs[(ring.head + i) & mask] === seq) return { higher, same: i };
    return null;
  }

  /** Bytes held by the rings (memory accounting). */
  get capacityBytes(): number {
    let bytes = 0;
    for (const ring of this.levels) if (ring !== undefined) bytes += ring.seqs.byteLength * 2;
    return bytes;
  }

  /**
   * Every non-empty level (highest first) as copies of its live entries, in the order pops take
   * them: what pushing them again, in this order, into an empty index rebuilds
   * (memory-snapshot.ts). Reads only. A removed seq's dead entries are the first of its entries
   * a level holds (pops meet them first), so those are the ones left out.
   */
  forEachLevel(visit: (priority: number, seqs: Float64Array, readyAt: Float64Array) => void): void {
    const dead = new Map(this.tombstones);
    for (let level = LEVELS - 1; level >= 0; level--) {
      const ring = this.levels[level];
      if (ring === undefined || ring.size === 0) continue;
      const seqs = new Float64Array(ring.size);
      const readyAt = new Float64Array(ring.size);
      const firstPart = Math.min(ring.size, ring.seqs.length - ring.head);
      seqs.set(ring.seqs.subarray(ring.head, ring.head + firstPart));
      seqs.set(ring.seqs.subarray(0, ring.size - firstPart), firstPart);
      readyAt.set(ring.readyAt.subarray(ring.head, ring.head + firstPart));
      readyAt.set(ring.readyAt.subarray(0, ring.size - firstPart), firstPart);
      if (dead.size === 0) {
        visit(level, seqs, readyAt);
        continue;
      }
      let kept = 0;
      for (let i = 0; i < seqs.length; i++) {
        const seq = seqs[i]!;
        const d = dead.get(seq);
        if (d !== undefined) {
          if (d === 1) dead.delete(seq);
          else dead.set(seq, d - 1);
          continue;
        }
        seqs[kept] = seq;
        readyAt[kept++] = readyAt[i]!;
      }
      if (kept > 0) visit(level, seqs.subarray(0, kept), readyAt.subarray(0, kept));
    }
  }

  // True when the level's head is live; false when the level turned out empty.
  private cleanHead(level: number): boolean {
    const ring = this.levels[level];
    while (ring !== undefined && ring.size > 0) {
      if (this.tombstones.size === 0) return true;
      const seq = ring.seqs[ring.head]!;
      const dead = this.tombstones.get(seq);
      if (dead === undefined) return true;
      if (dead === 1) this.tombstones.delete(seq);
      else this.tombstones.set(seq, dead - 1);
      this.dropHead(level);
    }
    this.clearLevel(level);
    return false;
  }

  private dropHead(level: number): void {
    const ring = this.levels[level]!;
    ring.shift();
    if (ring.size === 0) this.clearLevel(level);
  }

  private clearLevel(level: number): void {
    this.bitmap[level >>> 5]! &= ~(1 << (level & 31));
    const ring = this.levels[level];
    if (ring !== undefined && ring.seqs.length > KEEP_EMPTY_RING) this.levels[level] = undefined;
  }
}

/** Ready tasks of every queue; picks the best across several queues for one claim. */
export class ReadyIndex {
  private readonly queues = new Map<string, QueueReady>();
  private total = 0;

  /** Ready tasks over all queues. */
  get size(): number {
    return this.total;
  }

  queue(name: string): QueueReady | undefined {
    return this.queues.get(name);
  }

  queueNames(): IterableIterator<string> {
    return this.queues.keys();
  }

  push(queue: string, seq: number, priority: number, readyAtMs: number): void {
    let q = this.queues.get(queue);
    if (q === undefined) {
      q = new QueueReady();
      this.queues.set(queue, q);
    }
    q.push(seq, priority, readyAtMs);
    this.total++;
  }

  /** See QueueReady.pushAll. */
  pushAll(queue: string, priority: number, seqs: Float64Array, readyAt: Float64Array, capacity?: { seqs: Float64Array; readyAt: Float64Array }): void {
    let q = this.queues.get(queue);
    if (q === undefined) {
      q = new QueueReady();
      this.queues.set(queue, q);
    }
    q.pushAll(priority, seqs, readyAt, capacity);
    this.total += seqs.length;
  }

  remove(queue: string, seq: number, priority: number): void {
    const q = this.queues.get(queue);
    if (q === undefined) return;
    q.remove(seq, priority);
    this.total--;
  }

  /**
   * Removes and returns the best ready task over `queues`: highest priority, then the one ready
   * longest (then the lowest seq), or null when none is ready.
   */
  popBest(queues: readonly string[]): (ReadyEntry & { queue: string }) | null {
    let best: QueueReady | undefined;
    let bestName = "";
    let bestLevel = -1;
    let bestAt = 0;
    let bestSeq = 0;
    for (const name of queues) {
      const q = this.queues.get(name);
      if (q === undefined || q.size === 0) continue;
      const level = q.bestLevel();
      if (level < bestLevel || level < 0) continue;
      const head = q.head(level);
      if (level > bestLevel || head.readyAtMs < bestAt || (head.readyAtMs === bestAt && head.seq < bestSeq)) {
        best = q;
        bestName = name;
        bestLevel = level;
        bestAt = head.readyAtMs;
        bestSeq = head.seq;
      }
    }
    if (best === undefined) return null;
    const entry = best.pop()!;
    this.total--;
    return { ...entry, queue: bestName };
  }

  /** Undoes popBest: the entry goes back to the head of its level, keeping the order. */
  unpop(entry: ReadyEntry & { queue: string }): void {
    let q = this.queues.get(entry.queue);
    if (q === undefined) {
      q = new QueueReady();
      this.queues.set(entry.queue, q);
    }
    q.unpop(entry);
    this.total++;
  }

  /** See QueueReady.ahead. */
  ahead(queue: string, seq: number, priority: number): { higher: number; same: number } | null {
    return this.queues.get(queue)?.ahead(seq, priority) ?? null;
  }

  hasReady(queues: readonly string[]): boolean {
    for (const name of queues) if ((this.queues.get(name)?.size ?? 0) > 0) return true;
    return false;
  }

  clear(): void {
    this.queues.clear();
    this.total = 0;
  }

  get capacityBytes(): number {
    let bytes = 0;
    for (const q of this.queues.values()) bytes += q.capacityBytes;
    return bytes;
  }

  /** See QueueReady.forEachLevel; queue by queue. */
  forEachLevel(visit: (queue: string, priority: number, seqs: Float64Array, readyAt: Float64Array) => void): void {
    for (const [name, q] of this.queues) q.forEachLevel((priority, seqs, readyAt) => visit(name, priority, seqs, readyAt));
  }
}
