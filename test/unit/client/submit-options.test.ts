// Pure pieces of the SDK: URL parsing and defaults, submit options to TaskSpec (tiers, delays,
// payload encoding), batch cutting under the frame limit, and how a failed run is described.
import { describe, expect, test } from "bun:test";
import { PRIORITY_TIERS } from "../../../src/protocol/limits.ts";
import { chunkSpecs } from "../../../src/client/client.ts";
import { parseBrokerUrl, parseBrokerUrls, resolveClientOptions } from "../../../src/client/client-options.ts";
import { decodeValue, encodeValue } from "../../../src/client/payload.ts";
import { priorityValue, toTaskSpec } from "../../../src/client/submit-options.ts";
import { describeError } from "../../../src/client/task-run.ts";
import { InvalidFieldError, TqError } from "../../../src/client/tq-error.ts";

describe("URLs and defaults", () => {
  test("tq:// and tqs:// with and without a port; IPv6 in brackets; a bare host:port", () => {
    expect(parseBrokerUrl("tq://broker.internal:7000")).toEqual({ host: "broker.internal", port: 7000, tls: false });
    expect(parseBrokerUrl("tqs://broker.internal")).toEqual({ host: "broker.internal", port: 6379, tls: true });
    expect(parseBrokerUrl("tq://[::1]:7001")).toEqual({ host: "::1", port: 7001, tls: false });
    expect(parseBrokerUrl("127.0.0.1:7002")).toEqual({ host: "127.0.0.1", port: 7002, tls: false });
  });

  test("a wrong scheme or a bad URL is rejected naming the field and value", () => {
    expect(() => parseBrokerUrl("http://x:1")).toThrow(/scheme "http"/);
    expect(() => parseBrokerUrl("tq://")).toThrow(TqError);
  });

  test("a comma-separated list: entries without a scheme take the first one's; an empty entry is refused", () => {
    expect(parseBrokerUrls("tq://a:1,b:2")).toEqual([{ host: "a", port: 1, tls: false }, { host: "b", port: 2, tls: false }]);
    expect(parseBrokerUrls("tqs://a, b ,tq://c:3")).toEqual([
      { host: "a", port: 6379, tls: true },
      { host: "b", port: 6379, tls: true },
      { host: "c", port: 3, tls: false },
    ]);
    expect(() => parseBrokerUrls("tq://a:1,")).toThrow(/empty entry/);
    expect(() => parseBrokerUrls("tq://a:1,http://b")).toThrow(/scheme "http"/);
    const resolved = resolveClientOptions({ url: "tq://a:1,[::1]:2", env: {} });
    expect(resolved.endpoints.map((e) => e.display)).toEqual(["tq://a:1", "tq://[::1]:2"]);
    expect([resolved.host, resolved.port, resolved.display]).toEqual(["a", 1, "tq://a:1,tq://[::1]:2"]);
  });

  test("defaults: 127.0.0.1:6379, env TQ_URL / TQ_API_KEY, options beat env", () => {
    const none = resolveClientOptions({ env: {} });
    expect([none.host, none.port, none.apiKey, none.requestTimeoutMs, none.tls.enabled]).toEqual(["127.0.0.1", 6379, "", 30_000, false]);
    const fromEnv = resolveClientOptions({ env: { TQ_URL: "tqs://h:9", TQ_API_KEY: "k" } });
    expect([fromEnv.host, fromEnv.port, fromEnv.apiKey, fromEnv.tls.enabled]).toEqual(["h", 9, "k", true]);
    const explicit = resolveClientOptions({ url: "tq://o:1", apiKey: "o", env: { TQ_URL: "tq://h:9", TQ_API_KEY: "k" } });
    expect([explicit.host, explicit.apiKey]).toEqual(["o", "o"]);
    expect(resolveClientOptions({ env: {}, reconnect: false }).reconnect).toBeNull();
    expect(() => resolveClientOptions({ env: {}, requestTimeoutMs: -1 })).toThrow(/requestTimeoutMs/);
  });
});

describe("submit options", () => {
  test("tier names map to the tier defaults of limits.ts; numbers and numeric strings pass through", () => {
    expect(priorityValue("high")).toBe(PRIORITY_TIERS.high.default);
    expect(priorityValue("normal")).toBe(PRIORITY_TIERS.normal.default);
    expect(priorityValue("low")).toBe(PRIORITY_TIERS.low.default);
    expect(priorityValue(7)).toBe(7);
    expect(priorityValue("200")).toBe(200);
    expect(() => priorityValue(256)).toThrow(InvalidFieldError);
    expect(() => priorityValue("urgent")).toThrow(/expected high, normal, low/);
  });

  test("delay and runAt become runAtMs; both at once is an error", () => {
    expect(toTaskSpec("t", null, { delay: 1500 }, 1_000_000).runAtMs).toBe(1_001_500);
    expect(toTaskSpec("t", null, { runAt: new Date(5000) }, 0).runAtMs).toBe(5000);
    expect(() => toTaskSpec("t", null, { runAt: 1, delay: 1 }, 0)).toThrow(/not both/);
    const spec = toTaskSpec("t", null, { timeout: 500, maxRetries: 2, idempotencyKey: "k", queue: "q" }, 0);
    expect([spec.leaseMs, spec.maxRetries, spec.idempotencyKey, spec.queue]).toEqual([500, 2, "k", "q"]);
    expect(() => toTaskSpec("", null, {}, 0)).toThrow(/type/);
  });

  test("bytes are sent raw, everything else as JSON, undefined as null; and back", () => {
    const raw = encodeValue("payload", new Uint8Array([1, 2]));
    expect(raw.isJson).toBe(false);
    const json = encodeValue("payload", { a: [1, "x"] });
    expect(json.isJson).toBe(true);
    expect(decodeValue(json.bytes, true)).toEqual({ a: [1, "x"] });
    expect(decodeValue(encodeValue("payload", undefined).bytes, true)).toBeNull();
    expect(() => encodeValue("payload", 10n)).toThrow(InvalidFieldError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => encodeValue("payload", cyclic)).toThrow(/payload/);
  });

  test("batches are cut by count and by bytes, in order", () => {
    const specs = Array.from({ length: 10 }, (_, i) => toTaskSpec("t", new Uint8Array(100), { queue: `q${i}` }, 0));
    const byCount = chunkSpecs(specs, 1_000_000, 4);
    expect(byCount.map((c) => c.length)).toEqual([4, 4, 2]);
    const byBytes = chunkSpecs(specs, 400, 100);
    expect(byBytes.every((c) => c.length >= 1)).toBe(true);
    expect(byBytes.length).toBeGreaterThan(2);
    expect(byBytes.flat().map((s) => s.queue)).toEqual(specs.map((s) => s.queue));
  });
});

describe("describeError", () => {
  test("name, message and stack; non-errors are described too", () => {
    const text = describeError(new RangeError("too big"));
    expect(text.startsWith("RangeError: too big")).toBe(true);
    expect(text).toContain("submit-options.test.ts");
    expect(describeError("plain")).toBe("thrown: plain");
    expect(describeError({ code: 1 })).toBe('thrown: {"code":1}');
  });
});
