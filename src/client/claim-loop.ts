// ClaimLoop: how a worker takes tasks from a broker that predates subscriptions: one blocking
// ClaimTask at a time for its free slots, a pause after an error, until the worker stops claiming.
// What it claims goes to the worker; it knows no runs, leases or reports.

import { MAX_BATCH_SUBMIT, MAX_CLAIM_WAIT_MS } from "../protocol/limits.ts";
import type { ClaimedTask, LeaseRef } from "../protocol/messages.ts";
import type { Client } from "./client.ts";
import { ClientClosedError, ConnectionError } from "./tq-error.ts";

/** Pause after a failed claim, so a broken broker is not hammered in a tight loop. */
const CLAIM_ERROR_PAUSE_MS = 1000;

/** What the loop asks of its worker. */
export interface ClaimLoopHost {
  /** Still claiming: running, not quiet or stopping, and not subscribed. */
  claiming(): boolean;
  /** The worker is stopping: what a claim returns is handed back instead of run. */
  stopping(): boolean;
  /** How many tasks a claim may ask for now; 0: wait for wake(). */
  freeSlots(): number;
  /** The broker's max_batch_claim (HelloOk). */
  maxBatchClaim(): number;
  claimed(tasks: ClaimedTask[]): void;
  handBack(leases: LeaseRef[]): Promise<void>;
  reportError(err: unknown): void;
}

export class ClaimLoop {
  private waker: (() => void) | null = null;
  private running: Promise<void> | null = null;

  /** `claimWaitMs`: how long one blocking claim waits at the broker before it is sent again. */
  constructor(
    private readonly client: Client,
    private readonly queues: string[],
    private readonly claimWaitMs: number,
    private readonly host: ClaimLoopHost,
  ) {}

  /** Starts the loop unless it runs already or the worker does not claim. */
  ensure(): void {
    if (this.running !== null || !this.host.claiming()) return;
    this.running = this.loop().finally(() => {
      this.running = null;
      // Back on a broker without subscriptions while the loop was ending: claim again.
      this.ensure();
    });
  }

  /** A slot freed, or the worker stopped claiming: a waiting or pausing loop looks again. */
  wake(): void {
    const wake = this.waker;
    this.waker = null;
    wake?.();
  }

  /** Resolves once the loop (if any) has ended. */
  finished(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async loop(): Promise<void> {
    const waitMs = Math.min(this.claimWaitMs, MAX_CLAIM_WAIT_MS);
    while (this.host.claiming()) {
      const free = this.host.freeSlots();
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.waker = resolve));
        continue;
      }
      let tasks: ClaimedTask[];
      try {
        const res = await this.client.call(
          { kind: "ClaimTask", queues: this.queues, max: Math.min(free, this.host.maxBatchClaim(), MAX_BATCH_SUBMIT), waitMs },
          "Claimed",
          { timeoutMs: waitMs + this.client.channel.options.requestTimeoutMs },
        );
        tasks = res.tasks;
      } catch (err) {
        if (!this.host.claiming() || err instanceof ClientClosedError) break;
        // A claim lost with its connection may have leased tasks to us; the broker hands them
        // back when the worker's session is declared gone, so only the pause is ours to do.
        if (!(err instanceof ConnectionError)) this.host.reportError(err);
        await this.pause(CLAIM_ERROR_PAUSE_MS);
        continue;
      }
      if (this.host.stopping()) {
        if (tasks.length > 0) await this.host.handBack(tasks.map((t) => ({ id: t.id, token: t.token })));
        continue;
      }
      this.host.claimed(tasks);
    }
  }

  /** Resolves after `ms`, or at once on wake(). */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waker = null;
        resolve();
      }, ms);
      this.waker = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
