// Lease tokens: strictly increasing for the life of the database file, across restarts, so a
// result carrying a token from before a crash can never match a lease issued after it. The
// high-water mark is reserved in the meta table in blocks, so persisting it costs one UPDATE per
// block. Owns the counter and the block writes; knows nothing of leases.

import type { GroupCommit } from "./group-commit.ts";
import type { Statements } from "./statements.ts";

const TOKEN_BLOCK = 10_000;

export class LeaseTokens {
  private last = 0;
  private reserved = 0;
  /** The write of the latest block (it resolves once durable). */
  private blockWritten: Promise<void> = Promise.resolve();
  /** Blocks started so far: a claim compares before/after to know whether it started one. */
  private blocks = 0;

  constructor(
    private readonly stmts: Statements,
    private readonly group: GroupCommit,
  ) {}

  /** At open: every token up to the persisted mark may have been issued before. */
  load(): void {
    this.last = this.stmts.reservedTokens.get()?.value ?? 0;
    this.reserved = this.last;
  }

  get blocksStarted(): number {
    return this.blocks;
  }

  issue(): number {
    this.last++;
    if (this.last > this.reserved) {
      const reserved = this.last + TOKEN_BLOCK;
      this.reserved = reserved;
      this.blocks++;
      this.blockWritten = this.group.run(() => {
        this.stmts.reserveTokens.run(reserved);
      });
    }
    return this.last;
  }

  /**
   * Resolves once the latest block is durable: a claim that started a block waits for it, since
   * after a crash that lost it the same tokens would be issued again. Never rejects (a failed
   * write fails the claim through its group instead).
   */
  latestBlockDurable(): Promise<void> {
    return this.blockWritten.catch(() => undefined);
  }

  /** After a failed group: a block written in it is gone, so the next token reserves afresh. */
  forgetUncommittedBlock(): void {
    this.reserved = this.last;
  }

  /** Rewrites the current mark (a write that proves the store can commit). */
  persist(): void {
    this.stmts.reserveTokens.run(this.reserved);
  }
}
