// Small pieces of the config package: did-you-mean, secret masking, listen errors.

import { describe, expect, test } from "bun:test";
import { didYouMean, editDistance } from "../../../src/config/did-you-mean.ts";
import { bindOrExplain, DEFAULT_CONFIG, ListenError, listenError, loadConfig, MASK, maskSecrets } from "../../../src/config/index.ts";
import { createLogger } from "../../../src/log.ts";

describe("didYouMean", () => {
  test("a swap of neighbours is one edit", () => {
    expect(editDistance("prot", "port")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
  });

  test("suggests near names, not far ones", () => {
    expect(didYouMean("max_conections", ["max_connections", "port"])).toBe("max_connections");
    expect(didYouMean("PORT", ["port", "host"])).toBe("port");
    expect(didYouMean("zzzz", ["port", "host"])).toBeUndefined();
  });
});

describe("maskSecrets", () => {
  const secret = "s3cret-s3cret-s3cret";
  const config = loadConfig({
    env: {
      TQ_AUTH_ENABLED: "true",
      TQ_AUTH_API_KEYS: JSON.stringify([
        { name: "a", role: "admin", key: secret },
        { name: "b", role: "worker", key_sha256: "b".repeat(64) },
      ]),
    },
  });

  test("replaces key and key_sha256, keeps names and roles, and does not mutate", () => {
    const masked = maskSecrets(config);
    expect(masked.auth.api_keys).toEqual([
      { name: "a", role: "admin", key: MASK },
      { name: "b", role: "worker", key_sha256: MASK },
    ]);
    expect(config.auth.api_keys[0]?.key).toBe(secret);
    expect(JSON.stringify(masked)).not.toContain(secret);
  });

  test("a masked config logged as a field carries no secret", () => {
    const lines: string[] = [];
    createLogger({ level: "info", json: true, sink: (l) => lines.push(l) }).info("config", { config: maskSecrets(config) });
    expect(lines.join("")).not.toContain(secret);
    expect(lines.join("")).toContain(MASK);
  });

  test("a config without keys is unchanged", () => {
    expect(maskSecrets(DEFAULT_CONFIG)).toEqual(DEFAULT_CONFIG);
  });

  test("the PostgreSQL URL keeps its user, host and database, never its password", () => {
    for (const [url, shown] of [
      ["postgres://tq:s3cret@db:5432/tq", "postgres://tq:***@db:5432/tq"],
      ["postgresql://tq:p%40ss@w0rd@db/tq?sslmode=require", "postgresql://tq:***@db/tq?sslmode=require"],
      ["postgres://tq@db/tq?sslmode=require&password=s3cret", "postgres://tq@db/tq?sslmode=require&password=***"],
      ["postgres://db/tq", "postgres://db/tq"],
    ] as const) {
      const masked = maskSecrets(loadConfig({ env: { TQ_PERSISTENCE_POSTGRES_URL: url } }));
      expect(masked.persistence.postgres.url).toBe(shown);
    }
  });
});

describe("listenError", () => {
  test("a port in use is reported with the port and the key that sets it", () => {
    const first = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      let caught: unknown;
      try {
        bindOrExplain("broker.port", first.port, "127.0.0.1", () => Bun.listen({ hostname: "127.0.0.1", port: first.port, socket: { data() {} } }));
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ListenError);
      const err = caught as ListenError;
      expect(err.message).toBe(`cannot listen on 127.0.0.1:${first.port} (set by broker.port): the port is already in use by another process`);
      expect(err.key).toBe("broker.port");
      expect(err.code).toBe("EADDRINUSE");
    } finally {
      first.stop(true);
    }
  });

  test("an unknown failure keeps the original message", () => {
    expect(listenError(new Error("boom"), "api.rest_port", 8080).message).toBe("cannot listen on port 8080 (set by api.rest_port): boom");
  });
});
