// Which key a client address is counted under for broker.max_connections_per_address, and the
// counting itself: admit up to the limit, release on close, loopback and 0 never limited.
import { describe, expect, test } from "bun:test";
import { AddressLimit, addressKey } from "../../../src/net/address-limit.ts";

describe("addressKey", () => {
  test("IPv4 is counted as itself, and the same when IPv4-mapped", () => {
    expect(addressKey("203.0.113.7")).toBe("203.0.113.7");
    expect(addressKey("::ffff:203.0.113.7")).toBe("203.0.113.7");
  });

  test("IPv6 is counted by its /64, however it is written", () => {
    const key = addressKey("2001:db8:1:2::5");
    expect(key).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:0db8:0001:0002:ffff:0:0:1")).toBe(key);
    expect(addressKey("2001:DB8:1:2:aaaa:bbbb:cccc:dddd")).toBe(key);
    expect(addressKey("2001:db8:1:3::5")).not.toBe(key);
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
  });

  test("loopback and an unknown address are not limited", () => {
    for (const address of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", ""]) expect(addressKey(address)).toBeNull();
  });
});

describe("AddressLimit", () => {
  test("admits up to the limit per address, refuses the next, and admits again after a release", () => {
    const limit = new AddressLimit(2);
    const a = limit.admit("203.0.113.7");
    const b = limit.admit("203.0.113.7");
    expect(a).toEqual({ key: "203.0.113.7" });
    expect(b).toEqual({ key: "203.0.113.7" });
    expect(limit.admit("203.0.113.7")).toBe(false);
    expect(limit.admit("203.0.113.8")).toEqual({ key: "203.0.113.8" });
    limit.release("203.0.113.7");
    expect(limit.admit("203.0.113.7")).toEqual({ key: "203.0.113.7" });
  });

  test("forgets an address once its last connection is released", () => {
    const limit = new AddressLimit(1);
    limit.admit("198.51.100.1");
    expect(limit.size).toBe(1);
    limit.release("198.51.100.1");
    expect(limit.size).toBe(0);
  });

  test("loopback and a limit of 0 are never refused", () => {
    const loopback = new AddressLimit(1);
    for (let i = 0; i < 5; i++) expect(loopback.admit("127.0.0.1")).toEqual({ key: null });
    const off = new AddressLimit(0);
    for (let i = 0; i < 5; i++) expect(off.admit("203.0.113.7")).toEqual({ key: null });
    expect(off.size).toBe(0);
  });
});
