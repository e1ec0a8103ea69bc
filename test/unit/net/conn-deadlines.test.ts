// One connection's deadlines on one timer, on real (short) time: idle, frame and auth each fire
// when due and not before; traffic, a finished frame, a Hello, a wait or a pause hold them off.
// "Not before" is checked exactly; "fired" is waited for with slack, as the machine may be busy.
import { describe, expect, test } from "bun:test";
import { ConnDeadlines, type DeadlineKind } from "../../../src/net/conn-deadlines.ts";

interface Probe {
  d: ConnDeadlines;
  fired: { kind: DeadlineKind; atMs: number }[];
  /** ms since the probe started. */
  elapsed(): number;
  waiting: { value: boolean };
}

function probe(options: { idleMs: number; frameMs?: number; authMs?: number }): Probe {
  const fired: { kind: DeadlineKind; atMs: number }[] = [];
  const waiting = { value: false };
  const startedMs = performance.now();
  const elapsed = (): number => performance.now() - startedMs;
  const d = new ConnDeadlines({
    idleMs: options.idleMs,
    frameMs: options.frameMs ?? null,
    authMs: options.authMs ?? null,
    waiting: () => waiting.value,
    expired: (kind) => fired.push({ kind, atMs: elapsed() }),
  });
  d.start();
  return { d, fired, elapsed, waiting };
}

const sleep = (ms: number): Promise<void> => Bun.sleep(ms);

/** Waits until something fired (up to 2 s). */
async function firedWithin(p: Probe): Promise<DeadlineKind[]> {
  for (let i = 0; i < 200 && p.fired.length === 0; i++) await sleep(10);
  return p.fired.map((f) => f.kind);
}

describe("ConnDeadlines", () => {
  test("idle fires once, when due and not before", async () => {
    const p = probe({ idleMs: 100 });
    await sleep(50);
    expect(p.fired).toEqual([]);
    expect(await firedWithin(p)).toEqual(["idle"]);
    expect(p.fired[0]!.atMs).toBeGreaterThanOrEqual(99);
    await sleep(150);
    expect(p.fired.length).toBe(1);
  });

  test("activity moves the idle deadline; so does the end of a wait", async () => {
    const p = probe({ idleMs: 100 });
    await sleep(60);
    p.d.activity();
    const moved = p.elapsed();
    await sleep(60);
    if (p.elapsed() - moved < 99) expect(p.fired).toEqual([]);
    p.waiting.value = true;
    await sleep(250);
    expect(p.fired).toEqual([]);
    p.waiting.value = false;
    p.d.activity();
    const ended = p.elapsed();
    expect(await firedWithin(p)).toEqual(["idle"]);
    expect(p.fired[0]!.atMs - ended).toBeGreaterThanOrEqual(99);
  });

  test("a frame begun fires frame at its deadline, before idle; a finished frame does not", async () => {
    const done = probe({ idleMs: 5000, frameMs: 100 });
    done.d.frameStarted();
    await sleep(30);
    done.d.frameDone();
    await sleep(200);
    expect(done.fired).toEqual([]);
    done.d.stop();

    const stuck = probe({ idleMs: 5000, frameMs: 100 });
    stuck.d.frameStarted();
    await sleep(40);
    // Bytes of the same frame keep arriving: the deadline is per frame, not per byte.
    stuck.d.activity();
    stuck.d.frameStarted();
    expect(await firedWithin(stuck)).toEqual(["frame"]);
    expect(stuck.fired[0]!.atMs).toBeGreaterThanOrEqual(99);
    expect(stuck.fired[0]!.atMs).toBeLessThan(1000);
  });

  test("time the server does not read the connection is not counted against a frame", async () => {
    const p = probe({ idleMs: 5000, frameMs: 100 });
    p.d.frameStarted();
    await sleep(50);
    p.d.readingPaused(true);
    await sleep(200);
    expect(p.fired).toEqual([]);
    p.d.readingPaused(false);
    const resumed = p.elapsed();
    expect(await firedWithin(p)).toEqual(["frame"]);
    // About 50 ms of its 100 were left at the pause.
    expect(p.fired[0]!.atMs - resumed).toBeGreaterThanOrEqual(40);
    p.d.stop();
  });

  test("auth fires unless the connection authenticated first", async () => {
    const late = probe({ idleMs: 5000, authMs: 100 });
    expect(await firedWithin(late)).toEqual(["auth"]);
    expect(late.fired[0]!.atMs).toBeGreaterThanOrEqual(99);

    const onTime = probe({ idleMs: 5000, authMs: 100 });
    await sleep(20);
    onTime.d.authenticated();
    await sleep(250);
    expect(onTime.fired).toEqual([]);
    onTime.d.stop();
  });

  test("stop() silences every deadline", async () => {
    const p = probe({ idleMs: 30, frameMs: 20, authMs: 10 });
    p.d.frameStarted();
    p.d.stop();
    await sleep(100);
    expect(p.fired).toEqual([]);
  });
});
