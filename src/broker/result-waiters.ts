// Callers waiting for a task to finish (WaitResult, client.result): parked by task id and woken
// when the broker finishes the task, or when their wait runs out. Holds no task state itself.

import type { Clock } from "../clock.ts";

export class ResultWaiters {
  private readonly byId = new Map<string, Set<() => void>>();

  /** `clock`: the broker's; a wait runs out on its timers. */
  constructor(private readonly clock: Clock) {}

  /** Tasks someone is waiting on. */
  get size(): number {
    return this.byId.size;
  }

  /** Someone waits on `id`. */
  has(id: string): boolean {
    return this.byId.has(id);
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  /** Resolves when `wake(id)` is called, after `waitMs`, or when `signal` aborts, whichever is first. */
  wait(id: string, waitMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      let set = this.byId.get(id);
      if (!set) this.byId.set(id, (set = new Set()));
      const waiters = set;
      const done = (): void => {
        this.clock.clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        waiters.delete(done);
        if (waiters.size === 0 && this.byId.get(id) === waiters) this.byId.delete(id);
        resolve();
      };
      const timer = this.clock.setTimeout(done, waitMs);
      signal?.addEventListener("abort", done);
      waiters.add(done);
    });
  }

  /** Wakes everyone waiting on `id`. */
  wake(id: string): void {
    const set = this.byId.get(id);
    if (!set) return;
    for (const done of [...set]) done();
  }

  wakeAll(): void {
    for (const id of this.ids()) this.wake(id);
  }
}
