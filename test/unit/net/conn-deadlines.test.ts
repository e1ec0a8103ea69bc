// One connection's deadlines on one timer, on a fake clock: idle, frame and auth each fire when due
// and not before (checked to the millisecond); traffic, a finished frame, a Hello, a wait or a pause
// hold them off; a step of the wall clock moves none of them.
import { describe, expect, test } from "bun:test";
import { ConnDeadlines, type DeadlineKind } from "../../../src/net/conn-deadlines.ts";
import { FakeClock } from "../../helpers/fake-clock.ts";

interface Probe {
  d: ConnDeadlines;
  clock: FakeClock;
  fired: { kind: DeadlineKind; atMs: number }[];
  /** ms of clock time since the probe started. */
  elapsed(): number;
  waiting: { value: boolean };
}

function probe(options: { idleMs: number; frameMs?: number; authMs?: number }): Probe {
  const clock = new FakeClock();
  const fired: { kind: DeadlineKind; atMs: number }[] = [];
  const waiting = { value: false };
  const startedMs = clock.monotonicMs();
  const elapsed = (): number => clock.monotonicMs() - startedMs;
  const d = new ConnDeadlines({
    idleMs: options.idleMs,
    frameMs: options.frameMs ?? null,
    authMs: options.authMs ?? null,
    waiting: () => waiting.value,
    expired: (kind) => fired.push({ kind, atMs: elapsed() }),
    clock,
  });
  d.start();
  return { d, clock, fired, elapsed, waiting };
}

describe("ConnDeadlines", () => {
  test("idle fires once, when due and not before", () => {
    const p = probe({ idleMs: 100 });
    p.clock.advance(99);
    expect(p.fired).toEqual([]);
    p.clock.advance(1);
    expect(p.fired).toEqual([{ kind: "idle", atMs: 100 }]);
    p.clock.advance(1000);
    expect(p.fired.length).toBe(1);
    expect(p.clock.pendingTimers).toBe(0);
  });

  test("activity moves the idle deadline; so does the end of a wait", () => {
    const p = probe({ idleMs: 100 });
    p.clock.advance(60);
    p.d.activity();
    p.clock.advance(99);
    expect(p.fired).toEqual([]);
    p.waiting.value = true;
    p.clock.advance(250);
    expect(p.fired).toEqual([]);
    p.waiting.value = false;
    p.d.activity();
    const ended = p.elapsed();
    p.clock.advance(99);
    expect(p.fired).toEqual([]);
    p.clock.advance(1);
    expect(p.fired).toEqual([{ kind: "idle", atMs: ended + 100 }]);
  });

  test("a frame begun fires frame at its deadline, before idle; a finished frame does not", () => {
    const done = probe({ idleMs: 5000, frameMs: 100 });
    done.d.frameStarted();
    done.clock.advance(30);
    done.d.frameDone();
    done.clock.advance(200);
    expect(done.fired).toEqual([]);
    done.d.stop();

    const stuck = probe({ idleMs: 5000, frameMs: 100 });
    stuck.d.frameStarted();
    stuck.clock.advance(40);
    // Bytes of the same frame keep arriving: the deadline is per frame, not per byte.
    stuck.d.activity();
    stuck.d.frameStarted();
    stuck.clock.advance(59);
    expect(stuck.fired).toEqual([]);
    stuck.clock.advance(1);
    expect(stuck.fired).toEqual([{ kind: "frame", atMs: 100 }]);
  });

  test("time the server does not read the connection is not counted against a frame", () => {
    const p = probe({ idleMs: 5000, frameMs: 100 });
    p.d.frameStarted();
    p.clock.advance(50);
    p.d.readingPaused(true);
    p.clock.advance(200);
    expect(p.fired).toEqual([]);
    p.d.readingPaused(false);
    const resumed = p.elapsed();
    // 50 ms of its 100 were left at the pause.
    p.clock.advance(49);
    expect(p.fired).toEqual([]);
    p.clock.advance(1);
    expect(p.fired).toEqual([{ kind: "frame", atMs: resumed + 50 }]);
    p.d.stop();
  });

  test("auth fires unless the connection authenticated first", () => {
    const late = probe({ idleMs: 5000, authMs: 100 });
    late.clock.advance(99);
    expect(late.fired).toEqual([]);
    late.clock.advance(1);
    expect(late.fired).toEqual([{ kind: "auth", atMs: 100 }]);

    const onTime = probe({ idleMs: 5000, authMs: 100 });
    onTime.clock.advance(20);
    onTime.d.authenticated();
    onTime.clock.advance(250);
    expect(onTime.fired).toEqual([]);
    onTime.d.stop();
  });

  test("stop() silences every deadline", () => {
    const p = probe({ idleMs: 30, frameMs: 20, authMs: 10 });
    p.d.frameStarted();
    p.d.stop();
    p.clock.advance(100);
    expect(p.fired).toEqual([]);
    expect(p.clock.pendingTimers).toBe(0);
  });

  test("a step of the wall clock, forward or back, neither fires nor delays a deadline", () => {
    const p = probe({ idleMs: 100 });
    p.clock.set(p.clock.now() + 3_600_000);
    p.clock.advance(99);
    expect(p.fired).toEqual([]);
    p.clock.set(p.clock.now() - 7_200_000);
    p.clock.advance(1);
    expect(p.fired).toEqual([{ kind: "idle", atMs: 100 }]);
  });

  test("the quiet moment shutdown waits for is real time: bytes on the network do not follow the broker's clock", async () => {
    const p = probe({ idleMs: 5000 });
    p.d.activity();
    expect(p.d.quietMs()).toBeLessThan(20);
    // A real wait on purpose: the fake clock stands still meanwhile, the network does not.
    await Bun.sleep(30);
    expect(p.d.quietMs()).toBeGreaterThanOrEqual(25);
    p.d.stop();
  });
});
