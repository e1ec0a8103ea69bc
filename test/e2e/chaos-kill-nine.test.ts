// Short tier of chaos scenario 1 (kill -9 under load: 20 kills with sync full, 10 with sync
// interval, rotating kills from outside and the broker's own named kill points), plus the checker
// rules the named points need. Long tier: test/chaos/kill-nine.test.ts. Scenario: test/chaos/lib/.

import { afterAll, describe, expect, test } from "bun:test";
import { History } from "../chaos/lib/history.ts";
import { KILL_KINDS, NAMED_KINDS, SHORT_PASSAGES, killRotation, runKillNine, type KillNineReport } from "../chaos/lib/kill-nine.ts";
import { printSummary, recordRow } from "../chaos/lib/summary.ts";
import { chaosSeed } from "../chaos/lib/tier.ts";

afterAll(printSummary);

function expectClean(report: KillNineReport): void {
  const c = report.check;
  expect({ unexpectedExits: report.unexpectedExits, outsideFallbacks: report.outsideFallbacks }).toEqual({ unexpectedExits: [], outsideFallbacks: [] });
  // Results sent with leases of a dead incarnation: each answered LeaseLost (never NotFound: the row survived).
  expect(report.staleResults.other.slice(0, 10)).toEqual([]);
  expect({ lostSubmits: c.lostSubmits.slice(0, 10), lostCompletions: c.lostCompletions.slice(0, 10), vanished: c.vanished.slice(0, 10) }).toEqual({ lostSubmits: [], lostCompletions: [], vanished: [] });
  expect({ unexpected: c.unexpected.slice(0, 10), falseFailures: c.falseFailures.slice(0, 10), refused: c.refusedCompletions.slice(0, 10) }).toEqual({ unexpected: [], falseFailures: [], refused: [] });
  expect({ beyondWindow: c.duplicatesBeyondWindow.slice(0, 10), afterComplete: c.deliveredAfterComplete.slice(0, 10) }).toEqual({ beyondWindow: [], afterComplete: [] });
  // Every named kill was the broker's own: exit by SIGKILL with none sent by the supervisor.
  for (const kind of NAMED_KINDS) expect({ kind, seam: report.seamKills[kind] }).toEqual({ kind, seam: report.killsByKind[kind] });
}

test("kill -9 under load, 20 kills at random moments and at every named point: nothing acknowledged is lost, nothing completed comes back", async () => {
  const report = await runKillNine({ kills: 20, budgetMs: 60_000, seed: chaosSeed(), passages: SHORT_PASSAGES });
  recordRow(report.row);
  expectClean(report);
  expect(report.kills).toBe(20);
  for (const kind of KILL_KINDS) expect({ kind, atLeastTwice: report.killsByKind[kind] >= 2 }).toEqual({ kind, atLeastTwice: true });
  // The recovery kills had leases to void: workers held tasks when the incarnation before died.
  expect(report.heldBeforeRecovery).toBeGreaterThan(0);
  expect(report.staleResults.leaseLost).toBeGreaterThan(0);
  expect(report.check.submitsOk).toBeGreaterThan(0);
  expect(report.check.completionsOk).toBeGreaterThan(0);
}, 150_000);

test("kill -9 under load with persistence.sync interval, 10 kills: a process crash loses nothing acknowledged either", async () => {
  const report = await runKillNine({ kills: 10, budgetMs: 40_000, seed: chaosSeed(), sync: "interval", passages: SHORT_PASSAGES });
  recordRow(report.row);
  expectClean(report);
  expect(report.kills).toBe(10);
  expect(report.killsByKind["after-sync"]).toBe(0);
}, 120_000);

test("the rotation puts recovery right after a round with load, and leaves after-sync out with sync interval", () => {
  for (const sync of ["full", "interval"] as const) {
    const rotation = killRotation(sync);
    const i = rotation.indexOf("recovery");
    expect(["random", "after-commit", "after-acks", "after-sync", "after-completions", "compaction"]).toContain(rotation[(i + rotation.length - 1) % rotation.length]!);
  }
  expect(killRotation("interval")).not.toContain("after-sync");
  expect([...killRotation("full")].sort()).toEqual([...KILL_KINDS].sort());
});

describe("checker rules for process crashes (a claim hands out committed rows only)", () => {
  function submitted(h: History, key: string, outcome: "ok" | "unknown"): void {
    h.submitInvoked(key);
    if (outcome === "ok") h.submitOk(key, `id-${key}`);
    else h.submitEnded(key, "unknown");
  }

  test("a delivered task whose submit reply was cut by the crash is neither unexpected nor lost once found or completed", () => {
    const h = new History();
    submitted(h, "a", "unknown");
    submitted(h, "b", "unknown");
    h.delivered("a", "id-a", 1, h.claimInvoked());
    h.delivered("b", "id-b", 2, h.claimInvoked());
    h.crash();
    h.delivered("a", "id-a", 3, h.claimInvoked());
    h.completeEnded(h.completeInvoked("id-a", 3), "ok");
    // b: its completion's reply was cut too; retention may have purged it.
    h.completeEnded(h.completeInvoked("id-b", 2), "unknown");
    const r = h.check([{ id: "id-a", key: "a", status: "completed" }]);
    expect([r.unexpected, r.lostSubmits, r.vanished, r.refusedCompletions]).toEqual([[], [], [], []]);
    expect([r.deliveredUnacked, r.deliveredBeforeSubmitReply]).toEqual([3, 2]);
  });

  test("a delivered task of an unknown submit that is gone at the end with no completion sent has vanished", () => {
    const h = new History();
    submitted(h, "a", "unknown");
    h.delivered("a", "id-a", 1, h.claimInvoked());
    h.crash();
    const r = h.check([]);
    expect(r.vanished).toEqual(["a (id-a)"]);
    expect([r.lostSubmits, r.unexpected]).toEqual([[], []]);
  });

  test("an acknowledged submit delivered once, then gone with no completion sent, is lost (being delivered is no alibi)", () => {
    const h = new History();
    submitted(h, "a", "ok");
    h.delivered("a", "id-a", 1, h.claimInvoked());
    h.crash();
    // A completion the broker refused does not let retention purge the task either.
    h.completeEnded(h.completeInvoked("id-a", 1), "failed", 8);
    const r = h.check([]);
    expect(r.lostSubmits).toEqual(["a"]);
    expect(r.refusedCompletions).toEqual(["id-a code 8"]);
  });

  test("unfinishedDeliveries counts the leases an incarnation's death voided", () => {
    const h = new History();
    submitted(h, "a", "ok");
    submitted(h, "b", "ok");
    h.delivered("a", "id-a", 1, h.claimInvoked());
    h.delivered("b", "id-b", 2, h.claimInvoked());
    h.completeEnded(h.completeInvoked("id-a", 1), "ok");
    expect(h.unfinishedDeliveries(0)).toBe(1);
    expect(h.unfinishedDeliveries(1)).toBe(0);
  });
});
