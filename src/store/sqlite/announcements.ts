// What the SQLite store announces (StoreEvents), collected while the open group runs and sent once
// it commits — dropped if it fails, so no one is woken for a change that did not happen. A
// hand-back writes nothing, so it is announced at once. Holds no rows; calls only the events.

import type { StoreEvents, TaskEnd } from "../store.ts";

/** What the group's operations note as they go (insert-tasks, status-changes, lease-book). */
export interface GroupNotes {
  /** A task of `queue` became ready in the open group. */
  ready(queue: string): void;
  /** A task reached a finished status in the open group. */
  finished(end: TaskEnd): void;
}

export class Announcements implements GroupNotes {
  private readyInGroup = new Map<string, number>();
  private endedInGroup: TaskEnd[] = [];
  private readonly handedBack = new Map<string, number>();

  constructor(
    private readonly events: Partial<StoreEvents>,
    /** A listener that throws is logged; it never breaks the flush that called it. */
    private readonly guard: (listener: string, call: () => void) => void,
  ) {}

  ready(queue: string): void {
    this.readyInGroup.set(queue, (this.readyInGroup.get(queue) ?? 0) + 1);
  }

  finished(end: TaskEnd): void {
    this.endedInGroup.push(end);
  }

  /** A task of `queue` is ready again with no commit (a lease handed back): announced by announceHandedBack(). */
  handedBackTo(queue: string): void {
    this.handedBack.set(queue, (this.handedBack.get(queue) ?? 0) + 1);
  }

  /** The open group made tasks ready: a claim that hands them out waits for its commit. */
  get readyPending(): boolean {
    return this.readyInGroup.size > 0;
  }

  /** The open group committed: what it noted is true now. */
  committed(): void {
    if (this.readyInGroup.size > 0) {
      const ready = this.readyInGroup;
      this.readyInGroup = new Map();
      for (const [queue, count] of ready) this.guard("ready", () => this.events.ready?.(queue, count));
    }
    if (this.endedInGroup.length > 0) {
      const ended = this.endedInGroup;
      this.endedInGroup = [];
      this.guard("finished", () => this.events.finished?.(ended));
    }
  }

  /** The open group failed: nothing it noted happened. */
  failed(): void {
    this.readyInGroup.clear();
    this.endedInGroup = [];
  }

  /** Hand-backs since the last call (no commit needed: the row never left pending in the file). */
  announceHandedBack(): void {
    if (this.handedBack.size === 0) return;
    const back = [...this.handedBack];
    this.handedBack.clear();
    for (const [queue, count] of back) this.guard("ready", () => this.events.ready?.(queue, count));
  }
}
