// The cluster channel's messages read back as sent: an operator's worker command addressed to one
// broker, and what is not ours (another program's payload, an unknown command) is dropped.

import { describe, expect, test } from "bun:test";
import { decodeNotes, encodeWorkerCommand } from "../../../../src/store/postgres/cluster-bus.ts";

describe("cluster bus: worker commands", () => {
  test("a forwarded command reads back with its worker, command and target broker, and its sender", () => {
    const payload = encodeWorkerCommand("inst-1", { workerId: "w-1", command: "shutdown", nodeId: "b2" });
    expect(decodeNotes(payload)).toEqual({ from: "inst-1", ready: [], ends: [], pauses: [], commands: [{ workerId: "w-1", command: "shutdown", nodeId: "b2" }] });
  });

  test("an unknown command or a malformed entry is dropped, the rest of the message kept", () => {
    const payload = JSON.stringify({ o: "i", r: [["q", 2]], w: [["w-1", "none", "b"], ["w-2", "explode", "b"], [7, "quiet", "b"], ["w-3", "quiet"], ["w-4", "quiet", "b"]] });
    const decoded = decodeNotes(payload)!;
    expect(decoded.ready).toEqual([["q", 2]]);
    expect(decoded.commands).toEqual([{ workerId: "w-4", command: "quiet", nodeId: "b" }]);
  });

  test("a message of a broker that predates worker commands has none", () => {
    expect(decodeNotes(JSON.stringify({ o: "i", p: [["q", 1]] }))!.commands).toEqual([]);
  });
});
