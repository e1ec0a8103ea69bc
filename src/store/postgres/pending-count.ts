// pendingCount() for backpressure, asked once per submit: the cluster's count read from the
// database at most every maxAgeMs (in the background once one is known), plus what this broker's
// own commits changed since that read. Exact for this broker's own work; other brokers' work is
// seen up to maxAgeMs (plus one read) late, so a cluster may overshoot the threshold by what the
// other brokers accept in that time.

import type { SQL } from "bun";

export class PendingCount {
  private known: number | null = null;
  /** Pending tasks this broker's commits added (or took) since the last read was issued. */
  private delta = 0;
  private readAtMs = Number.NEGATIVE_INFINITY;
  private reading: Promise<void> | null = null;

  constructor(
    private readonly sql: SQL,
    private readonly maxAgeMs: number,
  ) {}

  /** A commit of this broker changed the pending count by `delta`. */
  add(delta: number): void {
    this.delta += delta;
  }

  async get(): Promise<number> {
    const stale = performance.now() - this.readAtMs > this.maxAgeMs;
    if (this.known === null) await this.read();
    else if (stale) void this.read().catch(() => undefined);
    return Math.max(0, this.known! + this.delta);
  }

  /** Forgets the read, so the next get() reads again (after this broker lost track, e.g. a failed commit of unknown outcome). */
  invalidate(): void {
    this.readAtMs = Number.NEGATIVE_INFINITY;
  }

  private read(): Promise<void> {
    this.reading ??= (async () => {
      // Deltas of commits that land while the count is read may be counted twice until the next read.
      const before = this.delta;
      try {
        const [row] = (await this.sql`SELECT count(*)::bigint AS n FROM tasks WHERE status = 'pending'`) as { n: string }[];
        this.known = Number(row!.n);
        this.delta -= before;
        this.readAtMs = performance.now();
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }
}
