// Worker liveness: two missed heartbeat intervals, or a closed connection past the grace period.
import { describe, expect, test } from "bun:test";
import { WORKER_COMMAND_BYTE } from "../../../src/protocol/wire-values.ts";
import { RECENTLY_DEAD_KEPT_MS, RECENTLY_DEAD_MAX, WorkerRegistry, workerStatus, workerView } from "../../../src/workers/registry.ts";

const info = (id: string) => ({ id, hostname: "h", pid: 1, queues: ["default"], concurrency: 2, version: "1", labels: {} });

describe("WorkerRegistry", () => {
  test("a worker silent for two heartbeat intervals is dead, not before", () => {
    const reg = new WorkerRegistry({ heartbeatIntervalMs: 1000, disconnectGraceMs: 500, maxInactivityMs: 3_600_000 });
    reg.register(info("w1"), 0);
    expect(reg.reapDead(1999).dead).toEqual([]);
    expect(reg.reapDead(1999).nextCheckMs).toBe(2000);
    reg.heartbeat("w1", { cpuPercent: 5, memoryMb: 10, inFlight: 1 }, 1500);
    expect(reg.reapDead(3000).dead).toEqual([]);
    const { dead } = reg.reapDead(3500);
    expect(dead.map((w) => w.id)).toEqual(["w1"]);
    expect(reg.size).toBe(0);
  });

  test("a disconnected worker is dead after the grace period unless it speaks again", () => {
    const reg = new WorkerRegistry({ heartbeatIntervalMs: 10_000, disconnectGraceMs: 500, maxInactivityMs: 3_600_000 });
    reg.register(info("a"), 0);
    reg.register(info("b"), 0);
    reg.disconnected("a", 1, 100);
    reg.disconnected("b", 1, 100);
    reg.touch("b", 300);
    expect(reg.reapDead(599).dead).toEqual([]);
    expect(reg.reapDead(600).dead.map((w) => w.id)).toEqual(["a"]);
    expect(reg.get("b")?.disconnectedAtMs).toBeNull();
  });

  test("a first heartbeat registers an unknown worker; commands stick across re-registration", () => {
    const reg = new WorkerRegistry({ heartbeatIntervalMs: 1000, disconnectGraceMs: 500, maxInactivityMs: 3_600_000 });
    const state = reg.heartbeat("new", { cpuPercent: 1, memoryMb: 2, inFlight: 0 }, 10);
    expect(state.autoRegistered).toBe(true);
    expect(reg.setCommand("new", "quiet")).toBe(true);
    reg.register(info("new"), 20);
    expect(reg.get("new")?.command).toBe("quiet");
    expect(reg.get("new")?.autoRegistered).toBe(false);
    expect(reg.setCommand("nobody", "shutdown")).toBe(false);
  });

  test("the registry keeps a command by its name; ListWorkers sends the byte of the one wire table", () => {
    const reg = new WorkerRegistry({ heartbeatIntervalMs: 1000, disconnectGraceMs: 500, maxInactivityMs: 3_600_000 });
    const state = reg.register(info("w"), 0);
    expect(state.command).toBe("none");
    expect(workerView(state).command).toBe(0);
    reg.setCommand("w", "shutdown");
    expect(reg.get("w")?.command).toBe("shutdown");
    expect(workerView(reg.get("w")!).command).toBe(WORKER_COMMAND_BYTE.shutdown);
    expect(WORKER_COMMAND_BYTE.shutdown).toBe(2);
  });
});

describe("connection-bound workers", () => {
  test("a client that only claims lives as long as its connection, however quiet", () => {
    const reg = new WorkerRegistry({ heartbeatIntervalMs: 1000, disconnectGraceMs: 500, maxInactivityMs: 3_600_000 });
    reg.touch("conn-1", 0, null, true);
    expect(reg.reapDead(60_000).dead).toEqual([]);
    reg.disconnected("conn-1", 1, 60_000);
    expect(reg.reapDead(60_500).dead.map((w) => w.id)).toEqual(["conn-1"]);
  });

  test("a heartbeat makes it an ordinary worker that dies of silence", () => {
    const reg = new WorkerRegistry({ heartbeatIntervalMs: 1000, disconnectGraceMs: 500, maxInactivityMs: 3_600_000 });
    reg.touch("w", 0, null, true);
    reg.heartbeat("w", { cpuPercent: 0, memoryMb: 0, inFlight: 0 }, 100);
    expect(reg.reapDead(2100).dead.map((w) => w.id)).toEqual(["w"]);
  });
});

describe("owners", () => {
  test("a worker taken over by another connection is not disconnected when the old one closes", () => {
    const reg = new WorkerRegistry({ heartbeatIntervalMs: 10_000, disconnectGraceMs: 500, maxInactivityMs: 3_600_000 });
    reg.register(info("w"), 0, { connectionId: 1, principal: "k", address: "127.0.0.1" });
    reg.register(info("w"), 10, { connectionId: 2, principal: "k", address: "127.0.0.2" });
    reg.disconnected("w", 1, 20);
    expect(reg.get("w")?.disconnectedAtMs).toBeNull();
    expect(reg.reapDead(5_000).dead).toEqual([]);
    reg.disconnected("w", 2, 5_000);
    expect(reg.get("w")?.disconnectedAtMs).toBe(5_000);
  });
});

describe("dead workers and worker.max_inactivity_secs", () => {
  test("a dead worker stays listed as dead until silent for max_inactivity, then it is forgotten", () => {
    const reg = new WorkerRegistry({ heartbeatIntervalMs: 1000, disconnectGraceMs: 500, maxInactivityMs: 5000 });
    reg.register(info("w"), 0, { connectionId: 1, principal: "k", address: "10.0.0.7" });
    const { dead, nextCheckMs } = reg.reapDead(2000);
    expect(dead.map((w) => w.id)).toEqual(["w"]);
    expect(nextCheckMs).toBe(5000);
    expect(reg.size).toBe(0);
    expect(reg.list().map((w) => [w.id, workerStatus(w), w.deadAtMs])).toEqual([["w", "dead", 2000]]);
    expect(workerView(reg.get("w")!)).toMatchObject({ status: "dead", address: "10.0.0.7", deadAtMs: 2000 });
    // Declared dead once: its tasks are reclaimed once.
    expect(reg.reapDead(4999).dead).toEqual([]);
    expect(reg.list()).toHaveLength(1);
    expect(reg.reapDead(5000)).toEqual({ dead: [], nextCheckMs: null });
    expect(reg.list()).toEqual([]);
  });

  test("a closed connection's worker is dead after the grace period and listed until silent for max_inactivity", () => {
    const reg = new WorkerRegistry({ heartbeatIntervalMs: 1000, disconnectGraceMs: 500, maxInactivityMs: 5000 });
    reg.register(info("c"), 0, { connectionId: 1, principal: "k", address: "a" });
    reg.touch("c", 100);
    reg.disconnected("c", 1, 100);
    expect(reg.reapDead(600).dead.map((w) => w.id)).toEqual(["c"]);
    expect(reg.reapDead(5099).dead).toEqual([]);
    expect(reg.get("c")?.deadAtMs).toBe(600);
    reg.reapDead(5100);
    expect(reg.get("c")).toBeUndefined();
  });

  test("max_inactivity shorter than two heartbeat intervals: dead and forgotten when it runs out", () => {
    const reg = new WorkerRegistry({ heartbeatIntervalMs: 1000, disconnectGraceMs: 500, maxInactivityMs: 1500 });
    reg.register(info("w"), 0);
    expect(reg.reapDead(1499).nextCheckMs).toBe(1500);
    expect(reg.reapDead(1500).dead.map((w) => w.id)).toEqual(["w"]);
    expect(reg.list()).toEqual([]);
  });

  test("a dead worker that speaks again is alive again; status follows the operator's command", () => {
    const reg = new WorkerRegistry({ heartbeatIntervalMs: 1000, disconnectGraceMs: 500, maxInactivityMs: 60_000 });
    reg.register(info("w"), 0);
    reg.reapDead(2000);
    reg.heartbeat("w", { cpuPercent: 1, memoryMb: 1, inFlight: 0 }, 2500);
    expect(workerStatus(reg.get("w")!)).toBe("alive");
    expect(reg.get("w")?.deadAtMs).toBeNull();
    reg.setCommand("w", "quiet");
    expect(workerStatus(reg.get("w")!)).toBe("quiet");
    reg.setCommand("w", "shutdown");
    expect(workerStatus(reg.get("w")!)).toBe("shutting_down");
  });

  test("a forgotten dead worker stays in recentlyDead for an hour, newest death first, without its connection; not while one with its id is registered", () => {
    const reg = new WorkerRegistry({ heartbeatIntervalMs: 1000, disconnectGraceMs: 500, maxInactivityMs: 5000 });
    const notify = (): void => {};
    reg.register(info("a"), 0, { connectionId: 1, principal: "k", address: "10.0.0.1", notify });
    reg.register(info("b"), 1000);
    expect(reg.reapDead(2000).dead.map((w) => w.id)).toEqual(["a"]);
    expect(reg.recentlyDead(2000)).toEqual([]); // dead but still listed: not "forgotten" yet
    expect(reg.reapDead(3000).dead.map((w) => w.id)).toEqual(["b"]);
    reg.reapDead(6000); // both silent for max_inactivity: forgotten
    expect(reg.list()).toEqual([]);
    const gone = reg.recentlyDead(6000);
    expect(gone.map((w) => [w.id, w.deadAtMs])).toEqual([["b", 3000], ["a", 2000]]);
    expect(gone[1]!.owner).toEqual({ connectionId: 1, principal: "k", address: "10.0.0.1" });
    expect(workerStatus(gone[0]!)).toBe("dead");
    // One registered again under a dead id is alive, not repeated as dead.
    reg.register(info("a"), 7000);
    expect(reg.recentlyDead(7000).map((w) => w.id)).toEqual(["b"]);
    // An hour after its death it is gone for good.
    expect(reg.recentlyDead(3000 + RECENTLY_DEAD_KEPT_MS).map((w) => w.id)).toEqual(["b"]);
    expect(reg.recentlyDead(3001 + RECENTLY_DEAD_KEPT_MS)).toEqual([]);
  });

  test("recentlyDead keeps at most RECENTLY_DEAD_MAX, dropping the oldest", () => {
    const reg = new WorkerRegistry({ heartbeatIntervalMs: 1000, disconnectGraceMs: 500, maxInactivityMs: 2000 });
    for (let i = 0; i < RECENTLY_DEAD_MAX + 5; i++) {
      reg.register(info(`w${i}`), i * 10_000);
      reg.reapDead(i * 10_000 + 5000);
    }
    reg.reapDead(RECENTLY_DEAD_MAX * 10_000 + 50_000);
    const gone = reg.recentlyDead(RECENTLY_DEAD_MAX * 10_000 + 50_000);
    expect(gone.length).toBe(RECENTLY_DEAD_MAX);
    expect(gone[0]!.id).toBe(`w${RECENTLY_DEAD_MAX + 4}`);
    expect(gone.some((w) => w.id === "w4")).toBe(false);
  });
});
