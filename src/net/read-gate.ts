// The broker-wide bound on bytes received and not yet parsed: past it, a connection that has
// consumed everything it was given is not read again until the total falls, first come first
// served. Without it, 1,000 clients pipelining as fast as they can each leave a read of up to
// 512 KiB waiting for its turn. Knows nothing of sockets: the server tells it bytes and resumes.

export interface ReadGateOptions<T> {
  /** Unparsed bytes over all connections past which waiting connections stay unread. */
  maxBytes: number;
  /** The largest single read (Bun's is 512 KiB): admissions per turn assume each brings this much. */
  readBytes: number;
  resume(waiter: T): void;
  /** A waiter that closed meanwhile is skipped. */
  gone(waiter: T): boolean;
}

export class ReadGate<T> {
  private readonly options: ReadGateOptions<T>;
  private unparsed = 0;
  private readonly waiting = new Set<T>();
  private admitQueued = false;

  constructor(options: ReadGateOptions<T>) {
    this.options = options;
  }

  /** Bytes received and not yet parsed, over all connections. */
  get unparsedBytes(): number {
    return this.unparsed;
  }

  /** Connections waiting to be read. */
  get waiters(): number {
    return this.waiting.size;
  }

  /** A connection's unparsed bytes went up (a read) or down (frames parsed, a close). */
  add(deltaBytes: number): void {
    this.unparsed += deltaBytes;
    if (deltaBytes < 0 && this.waiting.size > 0 && this.unparsed < this.options.maxBytes) this.scheduleAdmit();
  }

  /**
   * Whether a connection with nothing left to parse may be read now. If not, it waits: resume()
   * is called for it once the total is under the limit.
   */
  mayRead(waiter: T): boolean {
    if (this.waiting.size === 0 && this.unparsed < this.options.maxBytes) return true;
    this.waiting.add(waiter);
    if (this.unparsed < this.options.maxBytes) this.scheduleAdmit();
    return false;
  }

  /** The connection closed: it waits no more. */
  forget(waiter: T): void {
    this.waiting.delete(waiter);
  }

  private scheduleAdmit(): void {
    if (this.admitQueued) return;
    this.admitQueued = true;
    setImmediate(() => {
      this.admitQueued = false;
      this.admit();
    });
  }

  /**
   * Resumes as many waiters, oldest first, as the room left allows if each brings a full read;
   * the reads arrive on a later turn, which admits more if there is room.
   */
  private admit(): void {
    let room = this.options.maxBytes - this.unparsed;
    for (const waiter of this.waiting) {
      if (room <= 0) break;
      this.waiting.delete(waiter);
      if (this.options.gone(waiter)) continue;
      room -= this.options.readBytes;
      this.options.resume(waiter);
    }
  }
}
