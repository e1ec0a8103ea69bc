// A well-behaved client that keeps submitting, claiming and completing its own tasks on its own
// queue while a scenario abuses the broker; it records every reply that is not what a healthy
// broker sends. Owns its one connection.

import type { Response } from "../../../src/protocol/messages.ts";
import { RawConn } from "../../helpers/raw-conn.ts";

export interface CanaryReport {
  rounds: number;
  /** Unexpected replies, timeouts or a closed connection, described. */
  errors: string[];
  submitted: number;
  completed: number;
}

export class Canary {
  private stopped = false;
  private loop: Promise<void> | null = null;
  readonly report: CanaryReport = { rounds: 0, errors: [], submitted: 0, completed: 0 };

  private constructor(
    private readonly conn: RawConn,
    private readonly queue: string,
  ) {}

  static async start(port: number, queue = "canary"): Promise<Canary> {
    const canary = new Canary(await RawConn.connect(port), queue);
    canary.loop = canary.run();
    return canary;
  }

  private fail(what: string, response: Response | null, err?: unknown): void {
    const detail = response === null ? String(err) : response.kind === "Error" ? `Error ${response.code}: ${response.message}` : response.kind;
    if (this.report.errors.length < 50) this.report.errors.push(`${what}: ${detail}`);
  }

  private async run(): Promise<void> {
    const payload = new TextEncoder().encode('{"canary":true}');
    // Bounded: a scenario stops it long before; a pause between rounds leaves the broker to the abuse.
    for (let round = 0; round < 1_000_000 && !this.stopped; round++) {
      try {
        const sub = await this.conn.call({ kind: "SubmitTask", task: { type: "canary", queue: this.queue, payload, payloadIsJson: true } }, 10_000);
        if (sub.kind !== "Submitted") return this.fail("submit", sub);
        this.report.submitted++;
        const claimed = await this.conn.call({ kind: "ClaimTask", queues: [this.queue], max: 1, waitMs: 1000 }, 10_000);
        if (claimed.kind !== "Claimed" || claimed.tasks.length !== 1 || claimed.tasks[0]!.id !== sub.id) return this.fail("claim", claimed);
        const task = claimed.tasks[0]!;
        const done = await this.conn.call(
          { kind: "TaskResult", id: task.id, token: task.token, outcome: "completed", resultIsJson: true, result: payload, error: "" },
          10_000,
        );
        if (done.kind !== "Ack") return this.fail("complete", done);
        this.report.completed++;
        this.report.rounds++;
      } catch (err) {
        return this.fail("request", null, err);
      }
      await Bun.sleep(10);
    }
  }

  /** Stops after the current round and returns what it saw; the connection must still be open. */
  async stop(): Promise<CanaryReport> {
    this.stopped = true;
    await this.loop;
    if (this.conn.closed) this.report.errors.push("connection closed by the broker");
    else {
      const pong = await this.conn.call({ kind: "Ping" }).catch((err: unknown) => err);
      if (!(pong && typeof pong === "object" && "kind" in pong && pong.kind === "Pong")) this.report.errors.push(`final ping: ${String(pong)}`);
    }
    this.conn.close();
    return this.report;
  }
}
