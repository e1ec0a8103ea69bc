// Lease tokens: a lease serial strictly increasing for the life of the database file, across
// restarts (its high-water mark reserved in the meta table in blocks, one UPDATE per block), shown
// to workers through a keyed permutation (token-cipher.ts) whose key is made once per file and kept
// in meta. So a token is never issued twice and cannot be guessed from another. Knows nothing of leases.

import { getRandomValues } from "node:crypto";
import type { GroupCommit } from "./group-commit.ts";
import type { Statements } from "./statements.ts";
import { TOKEN_KEY_BYTES, TokenCipher } from "../token-cipher.ts";

const TOKEN_BLOCK = 10_000;
/** Tokens are u32 on the wire; the serial behind a token is the lease count modulo this. */
const TOKEN_SPACE = 2 ** 32;
/** The key in meta, as four u32 values (meta holds integers). */
const KEY_ROWS = ["lease_token_key_0", "lease_token_key_1", "lease_token_key_2", "lease_token_key_3"] as const;

export class LeaseTokens {
  private last = 0;
  private reserved = 0;
  private cipher: TokenCipher | null = null;
  /** The write of the latest block (it resolves once durable). */
  private blockWritten: Promise<void> = Promise.resolve();
  /** Blocks started so far: a claim compares before/after to know whether it started one. */
  private blocks = 0;

  constructor(
    private readonly stmts: Statements,
    private readonly group: GroupCommit,
  ) {}

  /**
   * At open: every serial up to the persisted mark may have been issued before. The key is made
   * on the first open of a file (committed before any token is, since blocks commit after it).
   */
  load(): void {
    this.last = this.stmts.reservedTokens.get()?.value ?? 0;
    this.reserved = this.last;
    const words = KEY_ROWS.map((key) => this.stmts.metaValue.get(key)?.value);
    if (words.some((w) => w === undefined)) {
      const fresh = getRandomValues(new Uint32Array(KEY_ROWS.length));
      KEY_ROWS.forEach((key, i) => this.stmts.addMeta.run(key, fresh[i]!));
      words.splice(0, words.length, ...fresh);
    }
    const key = new Uint8Array(TOKEN_KEY_BYTES);
    const view = new DataView(key.buffer);
    words.forEach((w, i) => view.setUint32(i * 4, w!));
    this.cipher = new TokenCipher(key);
  }

  get blocksStarted(): number {
    return this.blocks;
  }

  /** A new lease's serial (a u32; 2^32 leases later the same serial comes round again). */
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
    return this.last % TOKEN_SPACE;
  }

  /** What a worker is given for a lease serial. */
  tokenOf(serial: number): number {
    return this.cipher!.token(serial);
  }

  /** The lease serial a token stands for (every u32 stands for one). */
  serialOf(token: number): number {
    return this.cipher!.serial(token);
  }

  /**
   * Resolves once the latest block is durable: a claim that started a block waits for it, since
   * after a crash that lost it the same serials would be issued again. Never rejects (a failed
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
