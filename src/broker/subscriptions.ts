// Subscriptions: consumers the broker pushes tasks to while they have credits, the consumer path
// that needs no request per task. Owns each subscription's credits, which delivered task used which
// credit, and the order in which hungry subscriptions wait. Which task each gets is the store's
// rule and when it is served the broker's (serveWaiters); no sockets here: a front door hands in a
// sink (TCP: Delivery frames; a gRPC worker stream can hand in its own).

import { BrokerError, ErrorCode } from "../protocol/errors.ts";
import { MAX_SUBSCRIBE_CREDITS, MAX_SUBSCRIPTIONS } from "../protocol/limits.ts";
import type { Lease, LeaseRef } from "../rules/task.ts";
import type { WorkerCaller } from "./broker-types.ts";
import { checkQueueName, DEFAULT_QUEUE } from "./submit-spec.ts";

/** Where a subscription's tasks go: a front door's connection or stream. */
export interface DeliverySink {
  /**
   * Hands leased tasks to the consumer. False when it can no longer take them (its connection is
   * closing): the broker then hands them back to the queue at once.
   */
  deliver(subscriptionId: number, leases: readonly Lease[]): boolean;
  /** False while the consumer cannot take more bytes (a full outbound buffer); see Broker.consumerWritable. */
  writable(): boolean;
}

export interface SubscribeCommand {
  /** The consumer holding it (the TCP connection's id): its subscriptions end with it. */
  consumer: number;
  /** Chosen by the consumer, unique among its open subscriptions. */
  subscriptionId: number;
  /** The worker its tasks are leased to. */
  workerId: string;
  queues: readonly string[];
  /** Most tasks out at once through it: delivered and not yet ended. */
  credits: number;
  sink: DeliverySink;
  caller?: WorkerCaller;
}

export class Subscription {
  /** Tasks delivered whose lease has not ended: each holds one credit. */
  out = 0;
  /** A store claim for it is under way: one at a time, so it never asks past its credits. */
  claiming = false;
  closed = false;
  /** Its place among consumers waiting for tasks (parked claims too): lower waited longer. */
  ticket = 0;

  constructor(
    readonly consumer: number,
    readonly id: number,
    public workerId: string,
    public queues: readonly string[],
    public credits: number,
    public sink: DeliverySink,
  ) {}

  /** Credits not in use. */
  get free(): number {
    return this.credits - this.out;
  }
}

/** A delivered task: whose credit it holds, under which token. */
interface Delivered {
  sub: Subscription;
  token: number;
}

export class Subscriptions {
  private readonly byConsumer = new Map<number, Map<number, Subscription>>();
  /** Subscriptions with free credits and no claim under way, in the order they began to wait (a Set keeps insertion order). */
  private readonly line = new Set<Subscription>();
  /** Delivered tasks by id, until their lease ends. */
  private readonly delivered = new Map<string, Delivered>();
  private count = 0;

  /** `ticket` gives each consumer that starts waiting its place, shared with parked claims. */
  constructor(private readonly ticket: () => number) {}

  /** Open subscriptions. */
  get size(): number {
    return this.count;
  }

  /** Tasks delivered and not yet ended, over all subscriptions. */
  get outstanding(): number {
    return this.delivered.size;
  }

  /**
   * Opens a subscription, or changes the queues and credits of the consumer's open one with that
   * id (its tasks already out count against the new credits). InvalidField naming what is wrong.
   */
  open(command: SubscribeCommand): Subscription {
    const queues = command.queues.length === 0 ? [DEFAULT_QUEUE] : command.queues.map((q) => checkQueueName("queues", q));
    if (!Number.isInteger(command.credits) || command.credits < 1 || command.credits > MAX_SUBSCRIBE_CREDITS) {
      throw new BrokerError(ErrorCode.InvalidField, `credits: expected an integer 1-${MAX_SUBSCRIBE_CREDITS}, got ${command.credits}`, { field: "credits" });
    }
    let mine = this.byConsumer.get(command.consumer);
    const existing = mine?.get(command.subscriptionId);
    if (existing !== undefined) {
      existing.workerId = command.workerId;
      existing.queues = queues;
      existing.credits = command.credits;
      existing.sink = command.sink;
      this.waitIfHungry(existing);
      return existing;
    }
    if ((mine?.size ?? 0) >= MAX_SUBSCRIPTIONS) {
      throw new BrokerError(ErrorCode.InvalidField, `subscriptionId: this connection already holds ${MAX_SUBSCRIPTIONS} subscriptions, the most one may`, {
        field: "subscriptionId",
      });
    }
    const sub = new Subscription(command.consumer, command.subscriptionId, command.workerId, queues, command.credits, command.sink);
    if (mine === undefined) {
      mine = new Map();
      this.byConsumer.set(command.consumer, mine);
    }
    mine.set(sub.id, sub);
    this.count++;
    this.waitIfHungry(sub);
    return sub;
  }

  /** Ends one subscription; NotFound when the consumer has none with that id. */
  close(consumer: number, subscriptionId: number): void {
    const sub = this.byConsumer.get(consumer)?.get(subscriptionId);
    if (sub === undefined) {
      throw new BrokerError(ErrorCode.NotFound, `no subscription with id ${subscriptionId} on this connection`, { field: "subscriptionId" });
    }
    this.end(sub);
  }

  /** The consumer is gone (its connection closed): every subscription of it ends. */
  closeConsumer(consumer: number): void {
    const mine = this.byConsumer.get(consumer);
    if (mine === undefined) return;
    for (const sub of [...mine.values()]) this.end(sub);
  }

  /** The worker left (deregistered): the subscriptions made for it end. */
  closeWorker(workerId: string): void {
    for (const mine of [...this.byConsumer.values()]) {
      for (const sub of [...mine.values()]) if (sub.workerId === workerId) this.end(sub);
    }
  }

  /** Every subscription ends (shutdown). */
  closeAll(): void {
    for (const consumer of [...this.byConsumer.keys()]) this.closeConsumer(consumer);
  }

  /** True when some subscription of `consumer` has credits to use (after its outbound buffer drained). */
  hungryOf(consumer: number): boolean {
    const mine = this.byConsumer.get(consumer);
    if (mine === undefined) return false;
    for (const sub of mine.values()) if (this.line.has(sub)) return true;
    return false;
  }

  /** The longest-waiting subscription for which `eligible` holds, or null. */
  first(eligible: (sub: Subscription) => boolean): Subscription | null {
    for (const sub of this.line) if (eligible(sub)) return sub;
    return null;
  }

  /** A claim for `sub` is about to ask the store: it leaves the line until the claim returns. */
  claimStarted(sub: Subscription): void {
    sub.claiming = true;
    this.line.delete(sub);
  }

  /**
   * The claim returned `leases`, delivered to the consumer: each holds a credit until its lease
   * ends. The subscription waits again, at the back, if it has credits left.
   */
  claimDone(sub: Subscription, leases: readonly Lease[]): void {
    sub.claiming = false;
    for (const lease of leases) this.delivered.set(lease.task.id, { sub, token: lease.token });
    sub.out += leases.length;
    this.waitIfHungry(sub);
  }

  /** The lease was handed out by a subscription (and has not ended): its worker's next task comes by push. */
  pushed(ref: LeaseRef): boolean {
    return this.delivered.get(ref.id)?.token === ref.token;
  }

  /**
   * These leases ended (a result or hand-back received, a cancel, an expiry, a reclaim): each that
   * a subscription delivered gives its credit back. True when one went to a subscription that can
   * now use it. A lease it did not deliver, or an older token of the task, changes nothing.
   */
  leasesEnded<T>(items: readonly T[], refOf: (item: T) => LeaseRef): boolean {
    if (this.delivered.size === 0) return false;
    let freed = false;
    for (const item of items) {
      const ref = refOf(item);
      const d = this.delivered.get(ref.id);
      if (d === undefined || d.token !== ref.token) continue;
      this.delivered.delete(ref.id);
      d.sub.out--;
      if (this.waitIfHungry(d.sub)) freed = true;
    }
    return freed;
  }

  /** A worker's tasks were taken back (it died or deregistered): those delivered to it give their credits back. */
  tasksTakenBack(workerId: string, ids: readonly string[]): void {
    for (const id of ids) {
      const d = this.delivered.get(id);
      if (d === undefined || d.sub.workerId !== workerId) continue;
      this.delivered.delete(id);
      d.sub.out--;
      this.waitIfHungry(d.sub);
    }
  }

  private end(sub: Subscription): void {
    if (sub.closed) return;
    sub.closed = true;
    this.line.delete(sub);
    const mine = this.byConsumer.get(sub.consumer);
    mine?.delete(sub.id);
    if (mine?.size === 0) this.byConsumer.delete(sub.consumer);
    this.count--;
    // Its tasks stay leased to the worker (it may report them on another connection); their
    // lease ends no longer return anything.
    for (const [id, d] of this.delivered) if (d.sub === sub) this.delivered.delete(id);
  }

  /** Puts `sub` at the back of the line when it can take tasks and is not waiting already. */
  private waitIfHungry(sub: Subscription): boolean {
    if (sub.closed || sub.claiming || sub.free <= 0) {
      this.line.delete(sub);
      return false;
    }
    if (!this.line.has(sub)) {
      sub.ticket = this.ticket();
      this.line.add(sub);
    }
    return true;
  }
}
