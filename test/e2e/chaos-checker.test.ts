// The chaos checker must itself be able to fail: hand-made histories with one violation each
// (lost submit, lost completion, unexpected task, duplicate beyond the window, delivery after an
// acknowledged completion, false failure) and one clean history with a crash re-delivery; then
// the rules kill -9 needs (a claim hands out committed rows only).

import { describe, expect, test } from "bun:test";
import { History } from "../chaos/lib/history.ts";

function cleanRun(): History {
  const h = new History();
  h.submitInvoked("a");
  h.submitOk("a", "id-a");
  const at = h.claimInvoked();
  h.delivered("a", "id-a", 1, at);
  h.completeEnded(h.completeInvoked("id-a", 1), "ok");
  return h;
}

describe("chaos history checker", () => {
  test("a clean run, with a re-delivery after a crash, has no violation", () => {
    const h = cleanRun();
    h.submitInvoked("b");
    h.submitOk("b", "id-b");
    h.delivered("b", "id-b", 2, h.claimInvoked());
    h.crash();
    h.delivered("b", "id-b", 3, h.claimInvoked());
    h.completeEnded(h.completeInvoked("id-b", 3), "ok");
    h.submitInvoked("c");
    h.submitEnded("c", "unknown");
    const r = h.check([{ id: "id-b", key: "b", status: "completed" }]);
    expect([r.lostSubmits, r.lostCompletions, r.unexpected, r.duplicatesBeyondWindow, r.deliveredAfterComplete, r.falseFailures]).toEqual([[], [], [], [], [], []]);
    expect(r.duplicatesInWindow).toBe(1);
    expect(r.submitsUnknown).toBe(1);
  });

  test("an acknowledged submit never delivered nor stored is lost; one left pending is lost too", () => {
    const h = cleanRun();
    h.submitInvoked("b");
    h.submitOk("b", "id-b");
    h.submitInvoked("c");
    h.submitOk("c", "id-c");
    const r = h.check([{ id: "id-c", key: "c", status: "pending" }]);
    expect(r.lostSubmits).toEqual(["b", "c (left pending)"]);
  });

  test("an acknowledged completion found pending again is a lost completion", () => {
    const r = cleanRun().check([{ id: "id-a", key: "a", status: "pending" }]);
    expect(r.lostCompletions).toEqual(["id-a (pending)"]);
  });

  test("a task nobody submitted is unexpected, delivered or stored", () => {
    const h = cleanRun();
    h.delivered("zz", "id-z", 9, h.claimInvoked());
    const r = h.check([{ id: "id-y", key: "yy", status: "pending" }]);
    expect(r.unexpected).toEqual(["zz", "yy"]);
  });

  test("a second delivery with no crash between is beyond the window", () => {
    const h = new History();
    h.submitInvoked("a");
    h.submitOk("a", "id-a");
    h.delivered("a", "id-a", 1, h.claimInvoked());
    h.delivered("a", "id-a", 2, h.claimInvoked());
    expect(h.check([]).duplicatesBeyondWindow).toEqual(["a tokens 1,2"]);
  });

  test("a delivery claimed after the completion was acknowledged is caught even across a crash", () => {
    const h = cleanRun();
    h.crash();
    h.delivered("a", "id-a", 5, h.claimInvoked());
    const r = h.check([]);
    expect(r.deliveredAfterComplete).toEqual(["a token 5"]);
    expect(r.duplicatesBeyondWindow).toEqual([]);
  });

  test("a submit answered with an error whose task exists anyway is a false failure", () => {
    const h = new History();
    h.submitInvoked("a");
    h.submitEnded("a", "failed");
    expect(h.check([{ id: "id-a", key: "a", status: "pending" }]).falseFailures).toEqual(["a"]);
  });
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

describe("checker rules for cluster runs (a lease dies with its holder or at its end)", () => {
  const lease = (holder: string, claimWallMs: number) => ({ holder, claimWallMs, leaseMs: 60_000, slackMs: 1000 });

  test("a second delivery while the first holder lives and its lease runs is beyond the window", () => {
    const h = new History();
    h.submitInvoked("a");
    h.submitOk("a", "id-a");
    h.delivered("a", "id-a", 1, h.claimInvoked(), lease("w1", Date.now()));
    h.holderGone("w9");
    h.delivered("a", "id-a", 2, h.claimInvoked(), lease("w2", Date.now()));
    expect(h.check([]).duplicatesBeyondWindow.map((d) => d.split(" (")[0])).toEqual(["a tokens 1,2"]);
  });

  test("once the first holder is gone, or its lease has run out, a second delivery is in the window", () => {
    const h = new History();
    for (const key of ["a", "b"]) {
      h.submitInvoked(key);
      h.submitOk(key, `id-${key}`);
    }
    h.delivered("a", "id-a", 1, h.claimInvoked(), lease("w1", Date.now()));
    h.holderGone("w1");
    h.delivered("a", "id-a", 2, h.claimInvoked(), lease("w2", Date.now()));
    h.delivered("b", "id-b", 3, h.claimInvoked(), lease("w2", Date.now() - 59_500));
    h.delivered("b", "id-b", 4, h.claimInvoked(), lease("w3", Date.now()));
    const r = h.check([]);
    expect(r.duplicatesBeyondWindow).toEqual([]);
    expect(r.duplicatesInWindow).toBe(2);
  });

  test("a holder's death after the second delivery does not excuse it", () => {
    const h = new History();
    h.submitInvoked("a");
    h.submitOk("a", "id-a");
    h.delivered("a", "id-a", 1, h.claimInvoked(), lease("w1", Date.now()));
    h.delivered("a", "id-a", 2, h.claimInvoked(), lease("w2", Date.now()));
    h.holderGone("w1");
    expect(h.check([]).duplicatesBeyondWindow.map((d) => d.split(" (")[0])).toEqual(["a tokens 1,2"]);
  });
});
