// The reply writer against a fake sink: order, coalescing, partial writes, the outbound cap.
import { describe, expect, test } from "bun:test";
import { Outbound, type ByteSink } from "../../../src/net/outbound.ts";

/** A socket stand-in that takes at most `room` bytes per write. */
class FakeSink implements ByteSink {
  writes: Uint8Array[] = [];
  constructor(public room = Infinity) {}
  write(data: Uint8Array): number {
    const n = Math.min(this.room, data.byteLength);
    this.writes.push(data.slice(0, n));
    this.room -= n;
    return n;
  }
  get bytes(): number[] {
    return this.writes.flatMap((w) => [...w]);
  }
}

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("Outbound", () => {
  test("replies go out in request order even when they finish out of order", async () => {
    const sink = new FakeSink();
    const out = new Outbound(sink, { capBytes: 1024 });
    const a = out.reserve();
    const b = out.reserve();
    const c = out.reserve();
    out.fill(c, bytes(3));
    out.fill(b, bytes(2));
    await tick();
    expect(sink.bytes).toEqual([]);
    out.fill(a, bytes(1));
    await tick();
    expect(sink.bytes).toEqual([1, 2, 3]);
  });

  test("everything ready in one turn leaves in one write", async () => {
    const sink = new FakeSink();
    const out = new Outbound(sink, { capBytes: 1024 });
    for (let i = 0; i < 10; i++) out.fill(out.reserve(), bytes(i));
    out.sendNow(bytes(99));
    await tick();
    expect(sink.writes.length).toBe(1);
    expect(sink.bytes).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99]);
  });

  test("a partial write keeps the rest and finishes it on drain, before newer bytes", async () => {
    const sink = new FakeSink(3);
    const out = new Outbound(sink, { capBytes: 1024 });
    out.sendNow(bytes(1, 2, 3, 4, 5));
    await tick();
    expect(sink.bytes).toEqual([1, 2, 3]);
    expect(out.queuedBytes).toBe(2);
    out.sendNow(bytes(6));
    sink.room = 1;
    out.flush();
    expect(sink.bytes).toEqual([1, 2, 3, 4]);
    sink.room = Infinity;
    out.flush();
    expect(sink.bytes).toEqual([1, 2, 3, 4, 5, 6]);
    expect(out.queuedBytes).toBe(0);
  });

  test("pressure is reported past the cap and released once drained", async () => {
    const sink = new FakeSink(0);
    const events: boolean[] = [];
    const out = new Outbound(sink, { capBytes: 4, onPressure: (over) => events.push(over) });
    out.sendNow(new Uint8Array(10));
    await tick();
    expect(events).toEqual([true]);
    expect(out.overCap()).toBe(true);
    sink.room = Infinity;
    out.flush();
    expect(events).toEqual([true, false]);
  });

  test("a filled slot is taken once; a closed writer drops everything", async () => {
    const sink = new FakeSink();
    const out = new Outbound(sink, { capBytes: 1024 });
    const a = out.reserve();
    out.fill(a, bytes(1));
    out.fill(a, bytes(2));
    await tick();
    expect(sink.bytes).toEqual([1]);
    out.close();
    out.sendNow(bytes(3));
    out.flush();
    expect(sink.bytes).toEqual([1]);
  });
});

describe("Outbound accounting", () => {
  test("replies held behind an unfinished one count as queued bytes", async () => {
    const sink = new FakeSink();
    const out = new Outbound(sink, { capBytes: 4 });
    const a = out.reserve();
    const b = out.reserve();
    out.fill(b, new Uint8Array(10));
    expect(out.pendingReplies).toBe(2);
    expect(out.queuedBytes).toBe(10);
    expect(out.overCap()).toBe(true);
    out.fill(a, new Uint8Array(1));
    expect(out.pendingReplies).toBe(0);
    await tick();
    expect(out.queuedBytes).toBe(0);
    expect(sink.bytes.length).toBe(11);
  });
});

describe("pressure seen between flushes", () => {
  test("an owner that saw overCap() is told when the queue drains, even if no flush ran while over", async () => {
    const sink = new FakeSink();
    const events: boolean[] = [];
    const out = new Outbound(sink, { capBytes: 4, onPressure: (over) => events.push(over) });
    const a = out.reserve();
    const b = out.reserve();
    out.fill(b, new Uint8Array(10));
    // Held behind `a`: over the cap before any flush; the owner stops reading on this.
    expect(out.overCap()).toBe(true);
    out.fill(a, new Uint8Array(1));
    await tick();
    expect(out.queuedBytes).toBe(0);
    expect(events).toEqual([false]);
  });
});

describe("a client that does not read", () => {
  test("its small replies are merged while the socket takes nothing, and leave whole and in order once it does", async () => {
    const sink = new FakeSink(0);
    const out = new Outbound(sink, { capBytes: 1 << 20 });
    for (let i = 0; i < 1000; i++) out.fill(out.reserve(), bytes(i % 256, (i >> 8) & 0xff));
    await tick();
    expect(out.queuedBytes).toBe(2000);
    // 1,000 replies held as a handful of arrays, not 1,000.
    expect(out.queuedArrays).toBeLessThanOrEqual(10);
    sink.room = Infinity;
    out.flush();
    const expected: number[] = [];
    for (let i = 0; i < 1000; i++) expected.push(i % 256, (i >> 8) & 0xff);
    expect(sink.bytes).toEqual(expected);
    expect(out.queuedArrays).toBe(0);
  });

  test("a socket that answers -1 (the peer is gone) is reported once, and nothing is kept for it", async () => {
    let closedReports = 0;
    const sink: ByteSink = { write: () => -1 };
    const out = new Outbound(sink, { capBytes: 4, onSinkClosed: () => closedReports++ });
    out.sendNow(new Uint8Array(10));
    await tick();
    expect(closedReports).toBe(1);
    expect(out.queuedBytes).toBe(0);
  });

  test("a flush whose leftover meets a closed socket, and whose owner closes the writer then, does not throw", async () => {
    // The TCP server's onSinkClosed terminates the socket, whose close handler closes the writer
    // inside the same write: the flush must not touch the leftover it dropped (a shutdown's
    // closeAll flushes every connection, and one that threw here stopped the whole step).
    let open = true;
    const sink: ByteSink = { write: (data) => (open ? Math.min(2, data.byteLength) : -1) };
    const out: Outbound = new Outbound(sink, { capBytes: 1024, onSinkClosed: () => out.close() });
    out.sendNow(bytes(1, 2, 3, 4, 5));
    await tick();
    expect(out.queuedBytes).toBe(3);
    open = false;
    expect(() => out.flush()).not.toThrow();
    expect(out.queuedBytes).toBe(0);
  });
});
