// Protected mode as a pure decision of (bind host, remote address, auth on): every combination
// that matters, including IPv4-mapped IPv6 and an unknown peer.
import { describe, expect, test } from "bun:test";
import { isProtectedListener, protectedModeError, protectedModeRefuses } from "../../../src/broker/protected-mode.ts";

describe("protectedModeRefuses", () => {
  const cases: [bindHost: string, remote: string | null, authEnabled: boolean, refused: boolean][] = [
    ["0.0.0.0", "127.0.0.1", false, false],
    ["0.0.0.0", "127.8.9.10", false, false],
    ["0.0.0.0", "::1", false, false],
    ["0.0.0.0", "::ffff:127.0.0.1", false, false],
    ["0.0.0.0", "10.1.2.3", false, true],
    ["0.0.0.0", "::ffff:10.1.2.3", false, true],
    ["::", "2001:db8::1", false, true],
    ["192.168.1.5", "192.168.1.9", false, true],
    ["0.0.0.0", null, false, true],
    // Auth on: protected mode is off, whoever connects.
    ["0.0.0.0", "10.1.2.3", true, false],
    ["0.0.0.0", null, true, false],
    // A loopback bind: only loopback clients can reach it anyway.
    ["127.0.0.1", "127.0.0.1", false, false],
    ["::1", "::1", false, false],
    ["localhost", "127.0.0.1", false, false],
  ];
  for (const [bindHost, remoteAddress, authEnabled, refused] of cases) {
    test(`bind ${bindHost}, client ${remoteAddress}, auth ${authEnabled ? "on" : "off"}: ${refused ? "refused" : "served"}`, () => {
      expect(protectedModeRefuses({ bindHost, remoteAddress, authEnabled })).toBe(refused);
    });
  }
});

test("a listener is protected only with auth off and a non-loopback bind", () => {
  expect(isProtectedListener("0.0.0.0", false)).toBe(true);
  expect(isProtectedListener("0.0.0.0", true)).toBe(false);
  expect(isProtectedListener("127.0.0.1", false)).toBe(false);
});

test("the error is ProtectedMode (403) and tells how to enable auth", () => {
  const err = protectedModeError("0.0.0.0");
  expect(err.name).toBe("ProtectedMode");
  expect(err.spec.httpStatus).toBe(403);
  expect(err.message).toContain("0.0.0.0");
  expect(err.message).toContain("auth.enabled: true");
  expect(err.message).toContain("auth.api_keys");
});
