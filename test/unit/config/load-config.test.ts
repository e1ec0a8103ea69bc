// loadConfig: precedence, env parsing, and every class of error with its exact message.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, formatConfigErrors, loadConfig, type LoadConfigOptions } from "../../../src/config/index.ts";

const dir = mkdtempSync(join(tmpdir(), "tq-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function yamlFile(text: string): string {
  const file = join(dir, `c${fileCount++}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** The formatted problem lines of a load that must fail. */
function problems(options: LoadConfigOptions): string[] {
  try {
    loadConfig({ env: {}, ...options });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return formatConfigErrors(err as ConfigError).split("\n");
  }
  throw new Error("expected loadConfig to fail");
}

const KEY = "k".repeat(16);

describe("precedence: flag > env > file > default", () => {
  const file = yamlFile("broker:\n  port: 7001\n  host: 127.0.0.1\npersistence:\n  data_dir: /from/file\n");

  test("file beats default, and keys the file leaves out keep their default", () => {
    const c = loadConfig({ file, env: {} });
    expect(c.broker.port).toBe(7001);
    expect(c.broker.host).toBe("127.0.0.1");
    expect(c.broker.max_connections).toBe(1000);
    expect(c.monitoring.log_level).toBe("info");
  });

  test("env beats file", () => {
    const c = loadConfig({ file, env: { TQ_BROKER_PORT: "7002", TQ_PERSISTENCE_DATA_DIR: "/from/env" } });
    expect(c.broker.port).toBe(7002);
    expect(c.persistence.data_dir).toBe("/from/env");
    expect(c.broker.host).toBe("127.0.0.1");
  });

  test("flag beats env", () => {
    const c = loadConfig({ file, env: { TQ_BROKER_PORT: "7002" }, flags: { "broker.port": "7003" } });
    expect(c.broker.port).toBe(7003);
  });

  test("env beats default without a file", () => {
    expect(loadConfig({ env: { TQ_WORKER_CONCURRENCY: "9" } }).worker.concurrency).toBe(9);
  });
});

describe("env values are parsed by the key's type", () => {
  test("numbers, booleans (true/false/1/0), enums, strings", () => {
    const c = loadConfig({
      env: {
        TQ_BROKER_RETRY_JITTER: "0.5",
        TQ_PERSISTENCE_AUTO_COMPACT: "0",
        TQ_MONITORING_JSON_LOGGING: "FALSE",
        TQ_API_ENABLE_TLS: "1",
        TQ_API_TLS_CERT_FILE: "/c.pem",
        TQ_API_TLS_KEY_FILE: "/k.pem",
        TQ_MONITORING_LOG_LEVEL: "debug",
        TQ_RAFT_NODE_ID: "n1",
      },
    });
    expect(c.broker.retry_jitter).toBe(0.5);
    expect(c.persistence.auto_compact).toBe(false);
    expect(c.monitoring.json_logging).toBe(false);
    expect(c.api.enable_tls).toBe(true);
    expect(c.monitoring.log_level).toBe("debug");
    expect(c.raft.node_id).toBe("n1");
  });

  test("lists: comma-separated or JSON; api keys as JSON", () => {
    expect(loadConfig({ env: { TQ_RAFT_PEERS: "a:1, b:2" } }).raft.peers).toEqual(["a:1", "b:2"]);
    expect(loadConfig({ env: { TQ_RAFT_PEERS: '["c:3"]' } }).raft.peers).toEqual(["c:3"]);
    const keys = [{ name: "ci", role: "producer", key: KEY }];
    expect(loadConfig({ env: { TQ_AUTH_API_KEYS: JSON.stringify(keys) } }).auth.api_keys).toEqual(keys as never);
  });

  test("TQ_ variables of no known section are not config and are ignored", () => {
    expect(loadConfig({ env: { TQ_URL: "x", TQ_API_KEY_FILE_X: undefined, HOME: "/root" } })).toBeDefined();
  });

  test("port 0 is accepted everywhere (the OS picks)", () => {
    const c = loadConfig({ env: { TQ_BROKER_PORT: "0", TQ_API_REST_PORT: "0", TQ_API_GRPC_PORT: "0", TQ_MONITORING_PROMETHEUS_PORT: "0" } });
    expect([c.broker.port, c.api.rest_port, c.api.grpc_port, c.monitoring.prometheus_port]).toEqual([0, 0, 0, 0]);
  });
});

describe("error messages", () => {
  test("wrong type from env names the key, the expectation, the value and the variable", () => {
    expect(problems({ env: { TQ_BROKER_PORT: "abc" } })).toEqual(['broker.port: expected an integer 0-65535, got "abc" (from TQ_BROKER_PORT)']);
  });

  test("out of range and not an integer, from a file, with the line", () => {
    const file = yamlFile("broker:\n  port: 70000\n  max_connections: 1.5\n");
    expect(problems({ file })).toEqual([
      `broker.port: expected an integer 0-65535, got 70000 (${file} line 2)`,
      `broker.max_connections: expected an integer >= 1, got 1.5 (${file} line 3)`,
    ]);
  });

  test("bad boolean, enum and fraction", () => {
    expect(problems({ env: { TQ_PERSISTENCE_AUTO_COMPACT: "yes", TQ_PERSISTENCE_SYNC: "sometimes", TQ_BROKER_RETRY_JITTER: "2" } })).toEqual([
      "broker.retry_jitter: expected a number 0-1, got 2 (from TQ_BROKER_RETRY_JITTER)",
      'persistence.sync: expected one of "full", "interval", got "sometimes" (from TQ_PERSISTENCE_SYNC)',
      'persistence.auto_compact: expected true or false, got "yes" (from TQ_PERSISTENCE_AUTO_COMPACT)',
    ]);
  });

  test("a flag's bad value says it came from the command line", () => {
    expect(problems({ flags: { "broker.port": "-1" } })).toEqual(["broker.port: expected an integer 0-65535, got -1 (from the command line)"]);
  });

  test("all problems are reported at once", () => {
    const file = yamlFile("broker:\n  port: x\nmonitoring:\n  log_level: loud\n");
    expect(problems({ file, env: { TQ_WORKER_CONCURRENCY: "0" } })).toHaveLength(3);
  });

  test("unknown key in a file: did-you-mean for a typo", () => {
    const file = yamlFile("broker:\n  prot: 7000\n");
    expect(problems({ file })).toEqual([`broker.prot: unknown key (did you mean broker.port?) (${file} line 2)`]);
  });

  test("unknown key that lives in another section points there", () => {
    const file = yamlFile("broker:\n  data_dir: /x\n");
    expect(problems({ file })).toEqual([`broker.data_dir: unknown key (did you mean persistence.data_dir?) (${file} line 2)`]);
  });

  test("unknown section with a typo, and an unknown key with no near match", () => {
    const file = yamlFile("brokr:\n  port: 1\nworker:\n  zzz: 1\n");
    expect(problems({ file })).toEqual([
      `worker.zzz: unknown key (known keys here: concurrency, heartbeat_interval_secs, graceful_shutdown_timeout_secs, max_inactivity_secs) (${file} line 4)`,
      `brokr: unknown key (did you mean broker?) (${file} line 1)`,
    ]);
  });

  test("unknown key from env gets the suggestion and the variable", () => {
    expect(problems({ env: { TQ_BROKER_PROT: "1" } })).toEqual(["broker.prot: unknown key (did you mean broker.port?) (from TQ_BROKER_PROT)"]);
  });

  test("a file that is not YAML is reported with its line", () => {
    const file = yamlFile("broker:\n\tport: 1\n");
    expect(problems({ file })).toEqual([`config file ${file} line 2, column 1: not valid YAML: Tabs are not allowed as indentation`]);
    const file2 = yamlFile("this is: not: yaml\n");
    expect(problems({ file: file2 })).toEqual([`config file ${file2} line 1, column 10: not valid YAML: Nested mappings are not allowed in compact mappings`]);
  });

  test("duplicate keys are an error with the line", () => {
    const file = yamlFile("broker:\n  port: 1\n  port: 2\n");
    expect(problems({ file })).toEqual([`config file ${file} line 3, column 3: not valid YAML: Map keys must be unique`]);
  });

  test("a YAML document that is not a mapping", () => {
    const file = yamlFile("- 1\n- 2\n");
    expect(problems({ file })).toEqual([`config file ${file}: expected a mapping of sections (broker:, persistence:, ...), got a list [1,2]`]);
    const file2 = yamlFile("broker: 5\n");
    expect(problems({ file: file2 })).toEqual([`broker: expected a mapping of keys, got 5 (${file2} line 1)`]);
  });

  test("a missing file", () => {
    const file = join(dir, "nope.yaml");
    expect(problems({ file })).toEqual([`config file ${file}: cannot read it (no such file)`]);
  });

  test("an empty file is the defaults", () => {
    expect(loadConfig({ file: yamlFile(""), env: {} }).broker.port).toBe(6379);
    expect(loadConfig({ file: yamlFile("# nothing\n"), env: {} }).broker.port).toBe(6379);
  });

  test("peers must be host:port", () => {
    expect(problems({ env: { TQ_RAFT_PEERS: "a:1,nope" } })).toEqual(['raft.peers[1]: expected host:port, got "nope" (from TQ_RAFT_PEERS)']);
  });
});

describe("rules across keys", () => {
  test("TLS on needs cert and key, naming both keys", () => {
    expect(problems({ env: { TQ_API_ENABLE_TLS: "true" } })).toEqual([
      "api.tls_cert_file: required when api.enable_tls is true",
      "api.tls_key_file: required when api.enable_tls is true",
    ]);
  });

  test("auth on needs a key; names are unique", () => {
    expect(problems({ env: { TQ_AUTH_ENABLED: "true" } })).toEqual(["auth.api_keys: at least one key is required when auth.enabled is true"]);
    const keys = [
      { name: "a", role: "admin", key: KEY },
      { name: "a", role: "worker", key: `${KEY}2` },
    ];
    expect(problems({ env: { TQ_AUTH_API_KEYS: JSON.stringify(keys) } })).toEqual(['auth.api_keys[1].name: duplicate name "a" (also auth.api_keys[0]) (from TQ_AUTH_API_KEYS)']);
  });

  test("two listeners on one port", () => {
    expect(problems({ env: { TQ_API_REST_PORT: "6379" } })).toEqual(["api.rest_port: port 6379 is already used by broker.port (from TQ_API_REST_PORT)"]);
  });

  test("the reserved gRPC port takes part in the clash check", () => {
    expect(problems({ env: { TQ_API_GRPC_PORT: "8080" } })).toEqual(["api.grpc_port: port 8080 is already used by api.rest_port (from TQ_API_GRPC_PORT)"]);
    expect(problems({ env: { TQ_MONITORING_PROMETHEUS_PORT: "9090" } })).toEqual([
      "monitoring.prometheus_port: port 9090 is already used by api.grpc_port (from TQ_MONITORING_PROMETHEUS_PORT)",
    ]);
  });

  test("raft enabled is refused with a clear message", () => {
    const file = yamlFile("raft:\n  enabled: true\n  node_id: n1\n");
    expect(problems({ file })).toEqual([
      `raft.enabled: tq-broker has no Raft mode; set raft.enabled to false. For several brokers, use one PostgreSQL database (persistence.backend: postgres, persistence.postgres.url; raft.node_id names each broker); the other raft keys are accepted and ignored (${file} line 2)`,
    ]);
  });
});

describe("api keys", () => {
  test("key or key_sha256, exactly one", () => {
    const sha = "a".repeat(64);
    const ok = loadConfig({ env: { TQ_AUTH_API_KEYS: JSON.stringify([{ name: "h", role: "worker", key_sha256: sha }]) } });
    expect(ok.auth.api_keys[0]?.key_sha256).toBe(sha);
    expect(problems({ env: { TQ_AUTH_API_KEYS: JSON.stringify([{ name: "b", role: "worker", key: KEY, key_sha256: sha }]) } })).toEqual([
      "auth.api_keys[0]: expected exactly one of key or key_sha256 (from TQ_AUTH_API_KEYS)",
    ]);
    expect(problems({ env: { TQ_AUTH_API_KEYS: JSON.stringify([{ name: "n", role: "worker" }]) } })).toEqual([
      "auth.api_keys[0]: expected exactly one of key or key_sha256 (from TQ_AUTH_API_KEYS)",
    ]);
  });

  test("a bad key is never echoed", () => {
    const lines = problems({ env: { TQ_AUTH_API_KEYS: JSON.stringify([{ name: "s", role: "admin", key: "hunter2" }]) } });
    expect(lines).toEqual(["auth.api_keys[0].key: expected a string of at least 16 characters, got a hidden value of 7 characters (from TQ_AUTH_API_KEYS)"]);
    expect(lines.join("\n")).not.toContain("hunter2");
  });

  test("a bad role, and an unknown field in a key entry", () => {
    const lines = problems({ env: { TQ_AUTH_API_KEYS: JSON.stringify([{ name: "s", role: "boss", key: KEY, kye: 1 }]) } });
    expect(lines).toEqual([
      'auth.api_keys[0].role: expected one of "admin", "producer", "worker", got "boss" (from TQ_AUTH_API_KEYS)',
      "auth.api_keys[0].kye: unknown key (did you mean auth.api_keys[0].key?) (from TQ_AUTH_API_KEYS)",
    ]);
  });

  test("a list that is not JSON", () => {
    expect(problems({ env: { TQ_AUTH_API_KEYS: "[{nope" } })).toEqual([
      'auth.api_keys: expected a list of {name, role, key} mappings, got "[{nope" (from TQ_AUTH_API_KEYS)',
    ]);
  });
});

describe("durations in seconds", () => {
  test("take decimals; zero only where it means 'no wait'", () => {
    const c = loadConfig({ env: { TQ_BROKER_IDLE_TIMEOUT_SECS: "0.5", TQ_BROKER_DISCONNECT_GRACE_SECS: "0" } });
    expect(c.broker.idle_timeout_secs).toBe(0.5);
    expect(c.broker.disconnect_grace_secs).toBe(0);
    expect(problems({ env: { TQ_BROKER_IDLE_TIMEOUT_SECS: "0", TQ_BROKER_DISCONNECT_GRACE_SECS: "-1" } })).toEqual([
      "broker.idle_timeout_secs: expected a number of seconds > 0, got 0 (from TQ_BROKER_IDLE_TIMEOUT_SECS)",
      "broker.disconnect_grace_secs: expected a number of seconds >= 0, got -1 (from TQ_BROKER_DISCONNECT_GRACE_SECS)",
    ]);
  });
});

describe("persistence.postgres (a section inside a section)", () => {
  const url = "postgres://tq:pa55word@db.internal:5432/tq";

  test("set from a file, from TQ_PERSISTENCE_POSTGRES_* and from a flag, env over file, flag over env", () => {
    const file = yamlFile(`persistence:\n  backend: postgres\n  postgres:\n    url: ${url}\n    pool_size: 4\n`);
    const fromFile = loadConfig({ file, env: {} });
    expect(fromFile.persistence.backend).toBe("postgres");
    expect(fromFile.persistence.postgres).toEqual({ url, pool_size: 4, schema: "tq", synchronous_commit: true });
    const fromEnv = loadConfig({
      file,
      env: { TQ_PERSISTENCE_POSTGRES_POOL_SIZE: "7", TQ_PERSISTENCE_POSTGRES_SCHEMA: "queue_a", TQ_PERSISTENCE_POSTGRES_SYNCHRONOUS_COMMIT: "false" },
    });
    expect(fromEnv.persistence.postgres).toEqual({ url, pool_size: 7, schema: "queue_a", synchronous_commit: false });
    const fromFlag = loadConfig({ file, env: { TQ_PERSISTENCE_POSTGRES_POOL_SIZE: "7" }, flags: { "persistence.postgres.pool_size": "9" } });
    expect(fromFlag.persistence.postgres.pool_size).toBe(9);
    expect(loadConfig({ env: { TQ_PERSISTENCE_POSTGRES_URL: url } }).persistence.postgres.url).toBe(url);
  });

  test("backend postgres without a URL is refused, naming the key and its variable", () => {
    expect(problems({ env: { TQ_PERSISTENCE_BACKEND: "postgres" } })).toEqual([
      "persistence.postgres.url: required when persistence.backend is postgres (postgres://user:password@host:port/database, or TQ_PERSISTENCE_POSTGRES_URL)",
    ]);
  });

  test("a bad value is reported at its nested path, a URL's password never echoed", () => {
    const file = yamlFile("persistence:\n  postgres:\n    url: mysql://root:hunter2@db/x\n    pool_size: 1\n    schema: Bad-Name\n");
    const lines = problems({ file });
    expect(lines).toEqual([
      `persistence.postgres.url: expected a postgres://user:password@host:port/database URL, got "mysql://root:***@db/x" (${file} line 3)`,
      `persistence.postgres.pool_size: expected an integer 3-1000, got 1 (${file} line 4)`,
      `persistence.postgres.schema: expected a schema name: lowercase letters, digits and _, starting with a letter or _, at most 53 characters, got "Bad-Name" (${file} line 5)`,
    ]);
    expect(lines.join("\n")).not.toContain("hunter2");
  });

  test("an unknown key inside it is named with its neighbours", () => {
    const file = yamlFile("persistence:\n  postgres:\n    pool_sise: 3\n");
    expect(problems({ file })).toEqual([`persistence.postgres.pool_sise: unknown key (did you mean persistence.postgres.pool_size?) (${file} line 3)`]);
  });
});
