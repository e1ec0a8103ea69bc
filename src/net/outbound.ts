// A connection's outgoing bytes: replies put in request order (except those that answer when
// ready, like blocking claims), coalesced into one socket write per event-loop turn, partial
// writes kept and finished on drain, and a cap past which the owner stops reading the client.
// Knows nothing of frames' meaning; tested against a fake sink, not a socket.

/** What Outbound writes to: Bun's socket.write returns how many bytes it took (possibly fewer). */
export interface ByteSink {
  write(data: Uint8Array): number;
}

export interface OutboundOptions {
  /** Bytes queued (not yet accepted by the socket) past which `overCap()` is true. */
  capBytes: number;
  /** Called when the queue goes over the cap and when it drains back under it. */
  onPressure?: (overCap: boolean) => void;
  /** Called once when the sink refuses a write as closed (the peer is gone). */
  onSinkClosed?: () => void;
}

/**
 * Ready frames kept as separate arrays before they are merged into one: a client that does not
 * read leaves its small replies queued, and 7,000 Pongs as 7,000 arrays cost ten times their
 * bytes. Each byte is copied once: also merging into the previous block (to grow 16 KiB
 * blocks) copied each byte about 14 times and left more garbage than it saved.
 */
const MERGE_FRAMES = 128;

/** A reserved place in the reply order; fill it once. */
export type ReplySlot = number;

export class Outbound {
  private readonly sink: ByteSink;
  private readonly options: OutboundOptions;
  /** Replies in request order; null = still being worked on. */
  private slots: (Uint8Array | null)[] = [];
  private slotBase = 0;
  /** Bytes of replies finished but held behind an earlier one still being worked on. */
  private heldBytes = 0;
  /** Bytes ready for the socket, in order. */
  private ready: Uint8Array[] = [];
  private readyBytes = 0;
  /** Frames at the end of `ready` not merged yet. */
  private unmerged = 0;
  /** What the socket did not take last time; always written first. */
  private leftover: Uint8Array | null = null;
  private flushQueued = false;
  private pressured = false;
  private closed = false;
  private sinkClosed = false;
  /** flush, bound once: scheduled for every turn with replies. */
  private readonly flushLater = (): void => this.flush();

  constructor(sink: ByteSink, options: OutboundOptions) {
    this.sink = sink;
    this.options = options;
  }

  get queuedBytes(): number {
    return this.heldBytes + this.readyBytes + (this.leftover?.byteLength ?? 0);
  }

  /** Arrays waiting for the socket: what the queue costs beyond its bytes (small replies are merged). */
  get queuedArrays(): number {
    return this.ready.length + (this.leftover === null ? 0 : 1);
  }

  /** Ordered replies reserved and not yet released to the socket. */
  get pendingReplies(): number {
    return this.slots.length;
  }

  /**
   * Seen over the cap counts as pressure: the flush that brings the queue back under reports it
   * with onPressure(false), even if no flush ever ran while it was over (the owner may have
   * stopped reading on what it saw here).
   */
  overCap(): boolean {
    const over = this.queuedBytes > this.options.capBytes;
    if (over) this.pressured = true;
    return over;
  }

  /** Reserves the next place in the reply order. */
  reserve(): ReplySlot {
    this.slots.push(null);
    return this.slotBase + this.slots.length - 1;
  }

  /** Fills a reserved place; replies before it that are not ready yet hold it back. */
  fill(slot: ReplySlot, frame: Uint8Array): void {
    const at = slot - this.slotBase;
    if (at < 0 || at >= this.slots.length || this.slots[at] !== null) return;
    this.slots[at] = frame;
    if (at !== 0) {
      this.heldBytes += frame.byteLength;
      return;
    }
    this.push(frame);
    let n = 1;
    while (n < this.slots.length && this.slots[n] !== null) {
      const held = this.slots[n]!;
      this.heldBytes -= held.byteLength;
      this.push(held);
      n++;
    }
    // Usually every reserved slot is released: emptying in place allocates nothing per reply.
    if (n === this.slots.length) this.slots.length = 0;
    else this.slots.splice(0, n);
    this.slotBase += n;
  }

  /** Sends a frame now, outside the reply order (answers that come when ready, errors that close). */
  sendNow(frame: Uint8Array): void {
    this.push(frame);
  }

  /** Writes whatever is queued; call from the socket's drain event too. */
  flush(): void {
    this.flushQueued = false;
    if (this.closed) return;
    const leftover = this.leftover;
    if (leftover !== null) {
      // writeSome may close this writer (a closed socket's owner drops it): use the local copy.
      const taken = this.writeSome(leftover);
      if (this.closed) return;
      if (taken < leftover.byteLength) {
        this.leftover = leftover.subarray(taken);
        this.notePressure();
        return;
      }
      this.leftover = null;
    }
    if (this.readyBytes > 0) {
      const data = this.ready.length === 1 ? this.ready[0]! : Buffer.concat(this.ready, this.readyBytes);
      this.ready = [];
      this.readyBytes = 0;
      this.unmerged = 0;
      const taken = this.writeSome(data);
      if (taken < data.byteLength) this.leftover = data.subarray(taken);
    }
    this.notePressure();
  }

  /** Drops everything: the socket is gone. */
  close(): void {
    this.closed = true;
    this.slots = [];
    this.heldBytes = 0;
    this.ready = [];
    this.readyBytes = 0;
    this.unmerged = 0;
    this.leftover = null;
  }

  private push(frame: Uint8Array): void {
    if (this.closed) return;
    this.ready.push(frame);
    this.readyBytes += frame.byteLength;
    if (++this.unmerged >= MERGE_FRAMES) this.mergeUnmerged();
    if (!this.flushQueued) {
      this.flushQueued = true;
      // setImmediate, not a microtask: replies resolved by one group commit reach here through
      // several promise hops, and all of them should share one write.
      setImmediate(this.flushLater);
    }
  }

  private mergeUnmerged(): void {
    const start = this.ready.length - this.unmerged;
    this.unmerged = 0;
    const merged = Buffer.concat(this.ready.slice(start));
    this.ready.length = start;
    this.ready.push(merged);
  }

  private writeSome(data: Uint8Array): number {
    const taken = this.sink.write(data);
    if (taken >= 0) return taken;
    // A closed socket answers -1: keep nothing, and tell the owner at once. Bun may deliver the
    // close event only after every byte it read is consumed, and there may be megabytes.
    if (!this.closed && !this.sinkClosed) {
      this.sinkClosed = true;
      this.options.onSinkClosed?.();
    }
    return data.byteLength;
  }

  private notePressure(): void {
    const over = this.queuedBytes > this.options.capBytes;
    if (over !== this.pressured) {
      this.pressured = over;
      this.options.onPressure?.(over);
    }
  }
}
