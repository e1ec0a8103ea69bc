// What the broker believes is ready to claim, per queue: seeded from the store's counts at start,
// raised by its ready events, lowered by claims. Claims and parked claims ask the store only where
// a task may be, and no more of them at once than there are tasks, so one submit does not wake a
// hundred parked workers to race for it. A belief, never a promise: the store decides.

/** What a claim took from the book before it asked the store; settled with what it got. */
export interface Reservation {
  readonly queues: readonly string[];
  readonly taken: readonly number[];
  readonly epoch: number;
}

export class ReadyBook {
  private readonly ready = new Map<string, number>();
  /** When each queue was last announced ready: a claim that found nothing drains only queues not announced since it began. */
  private readonly announcedAt = new Map<string, number>();
  private epoch = 0;

  /** Sets what each queue holds (the store's counts at start). */
  seed(pending: Iterable<readonly [string, number]>): void {
    for (const [queue, count] of pending) this.ready.set(queue, count);
  }

  /** The store announced `count` more tasks ready in `queue`. */
  announce(queue: string, count: number): void {
    this.ready.set(queue, (this.ready.get(queue) ?? 0) + count);
    this.announcedAt.set(queue, ++this.epoch);
  }

  /** True when a claim on these queues may find a task. */
  has(queues: readonly string[]): boolean {
    for (const queue of queues) if ((this.ready.get(queue) ?? 0) > 0) return true;
    return false;
  }

  /** Takes up to `max` believed-ready tasks from `queues` for a claim about to ask the store; null when none is believed there. */
  reserve(queues: readonly string[], max: number): Reservation | null {
    const taken: number[] = [];
    let total = 0;
    for (const queue of queues) {
      const have = this.ready.get(queue) ?? 0;
      const take = Math.min(have, max - total);
      taken.push(take);
      if (take > 0) this.ready.set(queue, have - take);
      total += take;
    }
    return total === 0 ? null : { queues, taken, epoch: this.epoch };
  }

  /**
   * The claim came back with tasks from `gotQueues` (one entry per task): what was taken and not
   * got goes back. Nothing got means the queues were empty when the store looked, unless a ready
   * announcement came in since.
   */
  settle(reservation: Reservation, gotQueues: readonly string[]): void {
    const { queues, taken, epoch } = reservation;
    for (let i = 0; i < queues.length; i++) {
      const queue = queues[i]!;
      if (gotQueues.length === 0) {
        // What was taken was not there; an announcement since has added what is.
        if ((this.announcedAt.get(queue) ?? 0) <= epoch) this.ready.set(queue, 0);
        continue;
      }
      let got = 0;
      for (const q of gotQueues) if (q === queue) got++;
      this.ready.set(queue, Math.max(0, (this.ready.get(queue) ?? 0) + taken[i]! - got));
    }
  }

  /** The claim failed (storage trouble): what it took goes back untouched. */
  giveBack(reservation: Reservation): void {
    reservation.queues.forEach((queue, i) => this.ready.set(queue, (this.ready.get(queue) ?? 0) + reservation.taken[i]!));
  }
}
