// BeanstalkConn: one pipelined connection to beanstalkd (Bun.connect + beanstalk-protocol.ts), the
// peer bench's client: commands written in one tick go out in one socket write, and replies are
// matched to commands in order, as the server answers them. Never retries or reconnects.

import type { Socket } from "bun";
import {
  encodeDelete,
  encodeIgnore,
  encodePut,
  encodeRelease,
  encodeReserve,
  encodeStats,
  encodeUse,
  encodeWatch,
  parseStats,
  ReplyParser,
  type PutOptions,
  type Reply,
} from "./beanstalk-protocol.ts";

/** A reply other than the command's success word (NOT_FOUND, JOB_TOO_BIG, BAD_FORMAT, ...). */
export class BeanstalkReplyError extends Error {
  constructor(
    readonly command: string,
    readonly reply: Reply,
  ) {
    super(`beanstalkd answered ${command} with ${[reply.word, ...reply.args].join(" ")}`);
  }
}

export interface ReservedJob {
  id: number;
  body: Uint8Array;
}

/** Commands of one send() awaiting their replies. */
interface Waiter {
  remaining: number;
  replies: Reply[];
  resolve(replies: Reply[]): void;
  reject(err: Error): void;
}

export class BeanstalkConn {
  private readonly socket: Socket<undefined>;
  private readonly waiters: Waiter[] = [];
  /** Index of the first waiter still owed replies (shifting a long array per reply costs). */
  private head = 0;
  private outgoing: Uint8Array[] = [];
  private outgoingBytes = 0;
  /** Bytes the socket did not take yet, written first on drain. */
  private backlog: Uint8Array | null = null;
  private flushQueued = false;
  private failure: Error | null = null;
  /** endWrites() was called: FIN once the backlog is out, and no more sends. */
  private ending = false;

  private constructor(socket: Socket<undefined>) {
    this.socket = socket;
  }

  static async open(host: string, port: number): Promise<BeanstalkConn> {
    const parser = new ReplyParser();
    let conn: BeanstalkConn | null = null;
    const socket = await Bun.connect<undefined>({
      hostname: host,
      port,
      socket: {
        data(_s, chunk) {
          parser.push(chunk);
          try {
            for (let r = parser.next(); r !== null; r = parser.next()) conn?.deliver(r);
          } catch (err) {
            conn?.fail(err instanceof Error ? err : new Error(String(err)));
          }
        },
        drain() {
          conn?.flush();
        },
        close() {
          conn?.fail(new Error(conn.ending ? "connection closed by beanstalkd after this side ended its writes" : "connection closed by beanstalkd"));
        },
        error(_s, err) {
          conn?.fail(err);
        },
      },
    });
    socket.setNoDelay(true);
    conn = new BeanstalkConn(socket);
    return conn;
  }

  /** Sends encoded commands (coalesced with the others of this tick); resolves with one reply each, in order. */
  send(commands: readonly Uint8Array[]): Promise<Reply[]> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.ending) return Promise.reject(new Error("send after endWrites()"));
    if (commands.length === 0) return Promise.resolve([]);
    for (const c of commands) {
      this.outgoing.push(c);
      this.outgoingBytes += c.byteLength;
    }
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
    return new Promise((resolve, reject) => this.waiters.push({ remaining: commands.length, replies: [], resolve, reject }));
  }

  async use(tube: string): Promise<void> {
    expect(await this.one(encodeUse(tube)), "USING", "use");
  }

  /** Returns how many tubes the connection watches now. */
  async watch(tube: string): Promise<number> {
    return Number(expect(await this.one(encodeWatch(tube)), "WATCHING", "watch").args[0]);
  }

  async ignore(tube: string): Promise<number> {
    return Number(expect(await this.one(encodeIgnore(tube)), "WATCHING", "ignore").args[0]);
  }

  /** Returns the new job's id. */
  async put(body: Uint8Array, opts: PutOptions): Promise<number> {
    return Number(expect(await this.one(encodePut(body, opts)), "INSERTED", "put").args[0]);
  }

  /** A job, or null when the timeout passed first (TIMED_OUT); null timeout waits for ever. */
  async reserve(timeoutSecs: number | null): Promise<ReservedJob | null> {
    const r = await this.one(encodeReserve(timeoutSecs));
    if (r.word === "TIMED_OUT") return null;
    expect(r, "RESERVED", "reserve");
    return { id: Number(r.args[0]), body: r.body! };
  }

  async delete(id: number): Promise<void> {
    expect(await this.one(encodeDelete(id)), "DELETED", "delete");
  }

  async release(id: number, pri: number, delaySecs: number): Promise<void> {
    expect(await this.one(encodeRelease(id, pri, delaySecs)), "RELEASED", "release");
  }

  async stats(): Promise<Record<string, string>> {
    return parseStats(expect(await this.one(encodeStats()), "OK", "stats").body!);
  }

  /** True once the socket failed or was closed: every later send rejects at once. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /**
   * Half-closes once everything sent is written: beanstalkd then answers every command it holds,
   * a parked reserve with TIMED_OUT at once, and closes. A worker stops this way without waiting
   * out its reserve timeout, and without losing the replies of deletes still in flight.
   */
  endWrites(): void {
    if (this.ending || this.failure !== null) return;
    this.ending = true;
    if (!this.flushQueued && this.backlog === null) this.socket.shutdown();
  }

  close(): void {
    this.failure ??= new Error("connection closed by the bench");
    this.socket.end();
  }

  private async one(command: Uint8Array): Promise<Reply> {
    return (await this.send([command]))[0]!;
  }

  private deliver(reply: Reply): void {
    const waiter = this.waiters[this.head];
    if (waiter === undefined) throw new Error(`beanstalkd sent ${reply.word} with no command awaiting a reply`);
    waiter.replies.push(reply);
    if (--waiter.remaining > 0) return;
    this.head++;
    if (this.head === this.waiters.length || this.head > 1024) {
      this.waiters.splice(0, this.head);
      this.head = 0;
    }
    waiter.resolve(waiter.replies);
  }

  private fail(err: Error): void {
    if (this.failure === null) this.failure = err;
    const owed = this.waiters.splice(this.head);
    this.waiters.length = 0;
    this.head = 0;
    for (const w of owed) w.reject(err);
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.failure !== null) return;
    if (this.outgoingBytes > 0) {
      const joined = join(this.backlog, this.outgoing, this.outgoingBytes);
      this.outgoing = [];
      this.outgoingBytes = 0;
      this.backlog = joined;
    }
    if (this.backlog === null) return;
    const wrote = this.socket.write(this.backlog);
    if (wrote < 0) return;
    // Whatever the socket did not take goes out on drain.
    this.backlog = wrote < this.backlog.byteLength ? this.backlog.subarray(wrote) : null;
    if (this.backlog === null && this.ending) this.socket.shutdown();
  }
}

function expect(reply: Reply, word: string, command: string): Reply {
  if (reply.word !== word) throw new BeanstalkReplyError(command, reply);
  return reply;
}

function join(first: Uint8Array | null, rest: readonly Uint8Array[], restBytes: number): Uint8Array {
  const out = new Uint8Array((first?.byteLength ?? 0) + restBytes);
  let at = 0;
  if (first !== null) {
    out.set(first, 0);
    at = first.byteLength;
  }
  for (const chunk of rest) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
