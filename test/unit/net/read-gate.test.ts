// The broker-wide bound on unparsed bytes: under it every reader goes on; over it readers wait
// and are resumed oldest first as the total falls, as many per turn as full reads would fit.
import { describe, expect, test } from "bun:test";
import { ReadGate } from "../../../src/net/read-gate.ts";

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function gate(maxBytes: number, readBytes: number) {
  const resumed: string[] = [];
  const closed = new Set<string>();
  const g = new ReadGate<string>({ maxBytes, readBytes, resume: (w) => resumed.push(w), gone: (w) => closed.has(w) });
  return { g, resumed, closed };
}

describe("ReadGate", () => {
  test("under the limit a reader may read at once", () => {
    const { g } = gate(100, 10);
    g.add(50);
    expect(g.mayRead("a")).toBe(true);
    expect(g.waiters).toBe(0);
  });

  test("over the limit readers wait, and are resumed oldest first once bytes are parsed, as many as full reads fit", async () => {
    const { g, resumed } = gate(100, 30);
    g.add(120);
    expect(g.mayRead("a")).toBe(false);
    expect(g.mayRead("b")).toBe(false);
    expect(g.mayRead("c")).toBe(false);
    expect(g.mayRead("d")).toBe(false);
    await tick();
    expect(resumed).toEqual([]);
    g.add(-80);
    await tick();
    // 60 bytes of room: two reads of up to 30 each.
    expect(resumed).toEqual(["a", "b"]);
    expect(g.waiters).toBe(2);
    g.add(-40);
    await tick();
    expect(resumed).toEqual(["a", "b", "c", "d"]);
    expect(g.unparsedBytes).toBe(0);
  });

  test("while others wait, a new reader queues behind them even under the limit", async () => {
    const { g, resumed } = gate(100, 60);
    g.add(100);
    expect(g.mayRead("first")).toBe(false);
    g.add(-50);
    expect(g.mayRead("second")).toBe(false);
    await tick();
    expect(resumed).toEqual(["first"]);
  });

  test("a waiter that closed or was forgotten is not resumed", async () => {
    const { g, resumed, closed } = gate(100, 10);
    g.add(100);
    g.mayRead("gone");
    g.mayRead("forgotten");
    g.mayRead("alive");
    closed.add("gone");
    g.forget("forgotten");
    g.add(-100);
    await tick();
    expect(resumed).toEqual(["alive"]);
    expect(g.waiters).toBe(0);
  });
});
