// The tests of scenario 3 (connections), defined once for both tiers (scenarios.ts runs them:
// the short tier in `npm test`, the long one by test/chaos/run.ts).

import { afterAll, describe, expect, test } from "bun:test";
import { fdExhaustion, flood, halfOpen, nonReader, slowLoris, type AbuseResult } from "./connection-abuse.ts";
import { printSummary, recordRow } from "./summary.ts";
import type { ChaosTier } from "./tier.ts";

function row(name: string, r: AbuseResult, pass: boolean): void {
  recordRow({
    test: `connections/${name}`,
    operations: r.operations,
    lost: 0,
    unexpected: r.canary.errors.length,
    duplicates: 0,
    crashes: r.brokerExit === 0 ? 0 : 1,
    pass,
    note: `${Object.entries(r.figures).map(([k, v]) => `${k} ${v}`).join(", ")}; canary ${r.canary.rounds} rounds`,
  });
}

function healthy(r: AbuseResult): boolean {
  return r.canary.errors.length === 0 && r.brokerExit === 0 && r.canary.rounds > 0;
}

export function defineConnectionTests(tier: ChaosTier): void {
  afterAll(printSummary);
  const long = tier === "long";

  describe("connections under abuse", () => {
    const loris = long ? { clients: 50, byteIntervalMs: 1000 } : { clients: 20, byteIntervalMs: 20 };
    test(`slow-loris: ${loris.clients} clients writing a byte every ${loris.byteIntervalMs} ms each get their reply; the canary is served`, async () => {
      const r = await slowLoris(loris);
      const pass = healthy(r) && r.figures.submittedReplies === loris.clients;
      row("slow-loris", r, pass);
      expect(r.canary.errors).toEqual([]);
      expect(r.figures.submittedReplies).toBe(loris.clients);
      expect(r.brokerExit).toBe(0);
    }, long ? 300_000 : 60_000);

    test("half-open sockets (a partial header, then silence) are closed by the idle timeout", async () => {
      const r = await halfOpen({ sockets: long ? 500 : 50 });
      const pass = healthy(r) && r.figures.closedByBroker === r.figures.halfOpen;
      row("half-open", r, pass);
      expect(r.canary.errors).toEqual([]);
      expect(r.figures.closedByBroker).toBe(r.figures.halfOpen!);
      expect(r.brokerExit).toBe(0);
    }, 60_000);

    test("a client that never reads (2 KiB replies): the broker stops reading it, its RSS stays bounded, others are served", async () => {
      const r = await nonReader({ requests: long ? 2_000_000 : 400_000, perWrite: 1000, payloadBytes: 2048, capBytes: 1024 * 1024, settleMs: 1000 });
      const growthKiB = r.figures.rssPeakKiB! - r.figures.rssBeforeKiB!;
      const pass = healthy(r) && r.figures.stoppedBeforeAll === 1 && growthKiB < 128 * 1024 && r.figures.otherPong === 1;
      row("non-reader", r, pass);
      expect(r.canary.errors).toEqual([]);
      // Writes blocked long before every request went out: the broker stopped reading.
      expect(r.figures.stoppedBeforeAll).toBe(1);
      expect(growthKiB).toBeLessThan(128 * 1024);
      expect(r.figures.otherPong).toBe(1);
      expect(r.brokerExit).toBe(0);
    }, 90_000);

    // Regression: every frame of one read used to be dispatched even past the outbound cap
    // (400 QueryStatus in one read for a 512 KiB task queued 200 MiB of replies against a 1 MiB
    // cap). The server now checks per frame and bounds replies-in-flight per connection.
    test("a client that never reads (512 KiB replies, one read of requests): RSS growth stays near the outbound cap", async () => {
      const r = await nonReader({ requests: 400, perWrite: 400, payloadBytes: 512 * 1024, capBytes: 1024 * 1024, settleMs: 1500 });
      const growthKiB = r.figures.rssPeakKiB! - r.figures.rssBeforeKiB!;
      row("non-reader-amplified", r, healthy(r) && growthKiB < 64 * 1024);
      expect(r.canary.errors).toEqual([]);
      expect(growthKiB).toBeLessThan(64 * 1024);
    }, 60_000);

    const flooding = long ? { max: 100, connections: 1000 } : { max: 20, connections: 80 };
    test(`a flood of ${flooding.connections} connections past max_connections ${flooding.max}: clean refusals, no spin`, async () => {
      const r = await flood(flooding);
      // The canary holds one of the max slots.
      const expectedRefused = flooding.connections - (flooding.max - 1);
      const pass = healthy(r) && r.figures.refused === expectedRefused && r.figures.refusedAndClosed === expectedRefused && r.figures.idleCpuTicksPerSecond! < 50;
      row("flood", r, pass);
      expect(r.canary.errors).toEqual([]);
      expect(r.figures.refused).toBe(expectedRefused);
      expect(r.figures.refusedAndClosed).toBe(expectedRefused);
      expect(r.figures.accepted).toBe(flooding.max - 1);
      // Under half a core while idle after the flood (100 ticks = one core-second).
      expect(r.figures.idleCpuTicksPerSecond).toBeLessThan(50);
      expect(r.brokerExit).toBe(0);
    }, 60_000);

    test("out of file descriptors (ulimit -n 64): the broker survives, keeps its clients, and serves new ones once descriptors are free", async () => {
      const r = await fdExhaustion({ fdLimit: 64, connections: long ? 500 : 120 });
      // The CPU figure is asserted in the todo test below (a known spin), not here.
      const pass = healthy(r) && r.figures.servedAfter === 1;
      row("fd-exhaustion", r, pass);
      expect(r.canary.errors).toEqual([]);
      expect(r.figures.servedAfter).toBe(1);
      expect(r.brokerExit).toBe(0);
    }, 90_000);

    // Regression: with every descriptor in use the broker burned about half a core (53 clock
    // ticks/s, idle: 1) retrying accept() on EMFILE. The TCP server now keeps max_connections
    // under the open-file limit (src/net/fd-limit.ts), so accept() never runs out.
    test("out of file descriptors: no accept spin (under half a core while exhausted)", async () => {
      const r = await fdExhaustion({ fdLimit: 64, connections: 120 });
      row("fd-exhaustion-spin", r, r.figures.exhaustedCpuTicksPerSecond! < 50);
      expect(r.figures.exhaustedCpuTicksPerSecond).toBeLessThan(50);
    }, 60_000);
  });
}
