// Rows found damaged while serving (a get, a list, a claim) already read as absent; this moves
// them out of service for good soon after, in a group of their own: into the quarantine table
// (quarantine.ts), their leases void, the owner told. Owns only that scheduling.

import type { GroupCommit } from "./group-commit.ts";
import type { MemoryState } from "./memory-state.ts";
import type { Quarantine, QuarantinedRow } from "./quarantine.ts";

export interface QuarantineMoverOptions {
  quarantine: Quarantine;
  group: GroupCommit;
  mem: MemoryState;
  /** False before the store finished opening (the checks at open deal with rows found then) and once it is closed. */
  serving: () => boolean;
  onMoved: (rows: QuarantinedRow[]) => void;
  /** After rows are moved out, in their group: counts kept in memory are taken again from the file. */
  recount?: () => void;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export class QuarantineMover {
  private scheduled = false;

  constructor(private readonly o: QuarantineMoverOptions) {}

  /** A row was found damaged: move it (and any found with it) after this turn. */
  schedule(): void {
    if (this.scheduled || !this.o.serving()) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.o.serving() || this.o.quarantine.pending === 0) return;
      this.o.group.run(() => this.moveOut()).then(
        (moved) => {
          if (moved.length > 0) this.o.onMoved(moved);
        },
        (err) => this.o.log?.("moving damaged rows to the quarantine table failed; they stay out of service", { error: String(err) }),
      );
    });
  }

  /**
   * Moves the rows found so far now, in the open group, and resolves once it is committed (the
   * checks after open wait for it before comparing indexes with the table).
   */
  async moveNow(): Promise<QuarantinedRow[]> {
    const moved = await this.o.group.run(() => this.moveOut());
    if (moved.length > 0) this.o.onMoved(moved);
    return moved;
  }

  private moveOut(): QuarantinedRow[] {
    const moved = this.o.quarantine.moveOut(Date.now());
    for (const row of moved) {
      const lease = this.o.mem.leasesBySeq.get(row.seq);
      if (lease !== undefined) this.o.mem.removeLease(lease);
    }
    if (moved.length > 0) this.o.recount?.();
    return moved;
  }
}
