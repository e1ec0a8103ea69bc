// sd-notify: NOTIFY_SOCKET parsed into the sockaddr systemd expects; never throws into serve.

import { describe, expect, test } from "bun:test";
import { notifySystemd, socketAddress } from "../../src/sd-notify.ts";
import { createLogger } from "../../src/log.ts";

describe("socketAddress: NOTIFY_SOCKET as a struct sockaddr_un", () => {
  test("a path: AF_UNIX, the path, and its terminating NUL counted", () => {
    const { bytes, length } = socketAddress("/run/systemd/notify");
    expect([...bytes.subarray(0, 2)]).toEqual([1, 0]); // little-endian sa_family_t
    expect(Buffer.from(bytes.subarray(2, 2 + 19)).toString()).toBe("/run/systemd/notify");
    expect(bytes[2 + 19]).toBe(0);
    expect(length).toBe(2 + 19 + 1);
  });

  test("@name: an abstract socket, a leading NUL and no terminator", () => {
    const { bytes, length } = socketAddress("@tq/notify");
    expect(bytes[2]).toBe(0);
    expect(Buffer.from(bytes.subarray(3, 3 + 9)).toString()).toBe("tq/notify");
    expect(length).toBe(2 + 1 + 9);
  });

  test("vsock, relative paths and over-long paths are refused by name", () => {
    expect(() => socketAddress("vsock:2:1234")).toThrow('NOTIFY_SOCKET "vsock:2:1234": only a unix socket path or @abstract name is supported');
    expect(() => socketAddress("notify.sock")).toThrow("only a unix socket path");
    expect(() => socketAddress(`/${"x".repeat(107)}`)).toThrow("longer than a unix socket address allows");
    expect(socketAddress(`/${"x".repeat(106)}`).length).toBe(110);
  });
});

describe("notifySystemd", () => {
  const logged: string[] = [];
  const log = createLogger({ level: "debug", json: true, sink: (line) => logged.push(line) });

  test("without NOTIFY_SOCKET it does nothing and logs nothing", () => {
    notifySystemd("READY=1", {}, log);
    notifySystemd("READY=1", { NOTIFY_SOCKET: "" }, log);
    expect(logged).toEqual([]);
  });

  test("a socket it cannot use is a warning naming the socket, not an exception", () => {
    notifySystemd("STOPPING=1", { NOTIFY_SOCKET: "vsock:2:1234" }, log);
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0]!)).toMatchObject({ level: "warn", msg: "could not notify systemd", state: "STOPPING=1", notify_socket: "vsock:2:1234" });
  });
});
