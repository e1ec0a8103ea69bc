// The workers table: which broker each worker last spoke to, and when. Signs of life are kept in
// memory and written in one statement per flush (a worker first seen here at once, the others
// every flushIntervalMs), so a claim or a heartbeat costs no statement of its own.

import type { SQL } from "bun";
import type { WorkerPresence } from "../cluster.ts";

/** Records older than this are dropped: the worker has been gone a day. */
const FORGET_AFTER_MS = 24 * 60 * 60 * 1000;

/** The workers table; forwarding a command is the store's (it owns the channel). */
export class PgWorkerPresence implements Omit<WorkerPresence, "forwardWorkerCommand"> {
  private readonly unwritten = new Map<string, number>();
  /** Workers whose record names this broker, as far as this broker wrote it. */
  private readonly written = new Set<string>();
  private flushing: Promise<void> | null = null;
  private urgent = false;

  constructor(
    private readonly sql: SQL,
    private readonly nodeId: string,
    private readonly log: (message: string, fields?: Record<string, unknown>) => void,
  ) {}

  workerSeen(workerId: string, nowMs: number): void {
    this.unwritten.set(workerId, nowMs);
    // A worker new here (or back from another broker) is written at once: the broker it left
    // checks this record before declaring it dead.
    if (!this.written.has(workerId) && !this.urgent) {
      this.urgent = true;
      queueMicrotask(() => void this.flushUrgent());
    }
  }

  /** A flush for a worker new here: after the one under way, if any (it took its batch before this worker was seen). */
  private async flushUrgent(): Promise<void> {
    while (this.flushing !== null) await this.flushing;
    if (this.urgent) await this.flush();
  }

  async workerSeenElsewhere(workerId: string, sinceMs: number): Promise<boolean> {
    try {
      const [row] = (await this.sql`SELECT node_id, seen_at FROM workers WHERE worker_id = ${workerId}`) as { node_id: string; seen_at: string }[];
      const elsewhere = row !== undefined && row.node_id !== this.nodeId && Number(row.seen_at) >= sinceMs;
      if (elsewhere) this.written.delete(workerId);
      return elsewhere;
    } catch (err) {
      this.log("could not read where a worker was last seen; taking its tasks back", { worker: workerId, error: String(err) });
      return false;
    }
  }

  /** The broker (node id) that last wrote the worker's record and when, or null without a record. Throws on a failed read. */
  async lastSeen(workerId: string): Promise<{ nodeId: string; seenAtMs: number } | null> {
    const [row] = (await this.sql`SELECT node_id, seen_at FROM workers WHERE worker_id = ${workerId}`) as { node_id: string; seen_at: string }[];
    return row === undefined ? null : { nodeId: row.node_id, seenAtMs: Number(row.seen_at) };
  }

  workerGone(workerId: string): void {
    this.unwritten.delete(workerId);
    this.written.delete(workerId);
    this.sql`DELETE FROM workers WHERE worker_id = ${workerId} AND node_id = ${this.nodeId}`.catch((err: unknown) =>
      this.log("could not remove a deregistered worker's record", { worker: workerId, error: String(err) }),
    );
  }

  /** Writes every sign of life not yet written (one upsert). */
  flush(): Promise<void> {
    this.flushing ??= (async () => {
      this.urgent = false;
      const batch = [...this.unwritten];
      this.unwritten.clear();
      if (batch.length === 0) return;
      try {
        await this.sql`
          INSERT INTO workers (worker_id, node_id, seen_at)
          SELECT * FROM unnest(${batch.map(([id]) => id)}::text[], ${batch.map(() => this.nodeId)}::text[], ${batch.map(([, at]) => at)}::bigint[])
          ON CONFLICT (worker_id) DO UPDATE SET node_id = excluded.node_id, seen_at = GREATEST(workers.seen_at, excluded.seen_at)`;
        for (const [id] of batch) this.written.add(id);
      } catch (err) {
        // Kept for the next flush, unless a newer sign came meanwhile.
        for (const [id, at] of batch) if (!this.unwritten.has(id)) this.unwritten.set(id, at);
        this.log("could not record workers' signs of life", { workers: batch.length, error: String(err) });
      }
    })().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Drops the records of workers gone for a day (any broker may; it is idempotent). */
  async forgetOld(nowMs: number): Promise<void> {
    await this.sql`DELETE FROM workers WHERE seen_at < ${nowMs - FORGET_AFTER_MS}`;
  }
}
