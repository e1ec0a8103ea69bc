// The connection limit is kept under the open-file limit, so accept() never hits EMFILE.
import { describe, expect, test } from "bun:test";
import { effectiveMaxConnections, openFileLimit, RESERVED_FDS } from "../../../src/net/fd-limit.ts";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
`;

describe("fd limit", () => {
  test("reads the soft open-file limit", () => {
    expect(openFileLimit(LIMITS)).toBe(1024);
    expect(openFileLimit(LIMITS.replace("1024  ", "unlimited"))).toBeNull();
    expect(openFileLimit("nothing here")).toBeNull();
  });

  test("this process's limit is a number on Linux", () => {
    const limit = openFileLimit();
    if (process.platform === "linux") expect(limit === null || limit > 0).toBe(true);
  });

  test("max_connections is lowered below the limit, never raised", () => {
    expect(effectiveMaxConnections(1000, 1024)).toBe(1024 - RESERVED_FDS);
    expect(effectiveMaxConnections(1000, 64)).toBe(48);
    expect(effectiveMaxConnections(100, 1024)).toBe(100);
    expect(effectiveMaxConnections(1000, null)).toBe(1000);
    expect(effectiveMaxConnections(1000, 10)).toBe(1);
  });
});
