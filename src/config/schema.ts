// The one source of every config key: its type, default, unit and description (zod 4).
// Docs, the shipped YAML and env-var parsing are derived from this file; nothing here reads
// files or the environment.

import { z } from "zod";
import { SCHEMA_NAME, SCHEMA_NAME_RULE } from "../store/postgres/schema.ts";

/** What each leaf carries besides its type: read back by the docs generator and error messages. */
export interface KeyMeta {
  /** One line for docs, the shipped YAML comment and `--help`. */
  description: string;
  /** What a valid value looks like, as it appears after "expected" in an error message. */
  expected: string;
  /** The value is a credential: masked whenever config is printed, logged or echoed in an error. */
  secret?: boolean;
}

const KIB = 1024;
const MIB = 1024 * KIB;

function int(min: number, max: number, fallback: number, description: string) {
  const expected = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer ${min}-${max}`;
  return z
    .int({ error: expected })
    .min(min, { error: expected })
    .max(max, { error: expected })
    .default(fallback)
    .meta({ description, expected } satisfies KeyMeta);
}

/** 0 means "the OS picks a free port": tests and ad-hoc runs rely on it. */
function port(fallback: number, description: string) {
  return int(0, 65535, fallback, description);
}

function positive(fallback: number, description: string) {
  return int(1, Number.MAX_SAFE_INTEGER, fallback, description);
}

/** Durations in seconds take decimals (0.5 = half a second): tests and tight deployments need sub-second values. */
function seconds(min: 0 | 1, fallback: number, description: string) {
  // min 1 means "more than zero": a zero timeout or interval would spin or never wait.
  const expected = min === 0 ? "a number of seconds >= 0" : "a number of seconds > 0";
  const atLeast = z.number({ error: expected });
  return (min === 0 ? atLeast.min(0, { error: expected }) : atLeast.gt(0, { error: expected }))
    .max(10 * 365 * 86_400, { error: expected })
    .default(fallback)
    .meta({ description, expected } satisfies KeyMeta);
}

function fraction(fallback: number, description: string) {
  const expected = "a number 0-1";
  return z
    .number({ error: expected })
    .min(0, { error: expected })
    .max(1, { error: expected })
    .default(fallback)
    .meta({ description, expected } satisfies KeyMeta);
}

function bool(fallback: boolean, description: string) {
  const expected = "true or false";
  return z.boolean({ error: expected }).default(fallback).meta({ description, expected } satisfies KeyMeta);
}

function str(fallback: string, description: string) {
  const expected = "a string";
  return z.string({ error: expected }).default(fallback).meta({ description, expected } satisfies KeyMeta);
}

/** A string that must say something: "" would silently mean "this directory" or fail at bind. */
function nonEmpty(fallback: string, expected: string, description: string) {
  return z
    .string({ error: expected })
    .regex(/\S/, { error: expected })
    .default(fallback)
    .meta({ description, expected } satisfies KeyMeta);
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T, fallback: T[number], description: string) {
  const expected = `one of ${values.map((v) => JSON.stringify(v)).join(", ")}`;
  return z.enum(values, { error: expected }).default(fallback as never).meta({ description, expected } satisfies KeyMeta);
}

/** A section: unknown keys are errors (typos must not be silently ignored). */
function section<T extends z.core.$ZodLooseShape>(shape: T) {
  return z.strictObject(shape, { error: "a mapping of keys" });
}

const HOST_PORT = /^[^\s:]+:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/;

export const API_KEY_ROLES = ["admin", "producer", "worker"] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

/** Keys shorter than this are guessable; the broker compares them in constant time either way. */
export const MIN_API_KEY_CHARS = 16;

const apiKeySchema = z
  .strictObject({
    name: z.string({ error: "a non-empty string" }).min(1, { error: "a non-empty string" }),
    role: z.enum(API_KEY_ROLES, { error: `one of ${API_KEY_ROLES.map((r) => JSON.stringify(r)).join(", ")}` }),
    key: z
      .string({ error: `a string of at least ${MIN_API_KEY_CHARS} characters` })
      .min(MIN_API_KEY_CHARS, { error: `a string of at least ${MIN_API_KEY_CHARS} characters` })
      .optional()
      .meta({ description: "the API key itself", expected: "a string", secret: true } satisfies KeyMeta),
    key_sha256: z
      .string({ error: "64 hex characters (the SHA-256 of the key)" })
      .regex(/^[0-9a-fA-F]{64}$/, { error: "64 hex characters (the SHA-256 of the key)" })
      .optional()
      .meta({ description: "SHA-256 of the API key, hex", expected: "64 hex characters", secret: true } satisfies KeyMeta),
  }, { error: "a mapping with name, role and key (or key_sha256)" })
  .superRefine((item, ctx) => {
    if ((item.key === undefined) === (item.key_sha256 === undefined)) {
      // The entry's value holds the secret, so this message must not echo it.
      ctx.addIssue({ code: "custom", message: "exactly one of key or key_sha256", path: [], params: { echoValue: false } });
    }
  });

export type ApiKeyConfig = z.output<typeof apiKeySchema>;

const brokerSchema = section({
  host: z
    .string({ error: "a host name or IP address" })
    .regex(/^[^\s]+$/, { error: "a host name or IP address, not empty and without spaces" })
    .default("0.0.0.0")
    .meta({
      description: "Address every listener (protocol, REST API, metrics) binds to (0.0.0.0 = all IPv4 interfaces, :: = all).",
      expected: "a host name or IP address",
    } satisfies KeyMeta),
  port: port(6379, "TCP port of the task protocol; 0 lets the OS pick one."),
  max_connections: positive(1000, "Open client connections allowed at once; more are refused with TooManyConnections."),
  queue_depth_threshold: positive(100_000, "Pending tasks at which submits get QueueFull (nothing accepted is dropped)."),
  worker_lease_timeout_secs: seconds(1, 30, "Default lease of a claimed task, in seconds, when the task sets none."),
  max_batch_claim: int(1, 10_000, 10, "Most tasks one claim request may take."),
  idle_timeout_secs: seconds(1, 30, "A connection that sends nothing, reads none of its replies and waits on no request for this many seconds is closed."),
  max_outbound_buffer_bytes: positive(64 * KIB, "Reply bytes queued for a client that is not reading them before the broker stops reading from it (one larger reply is still sent)."),
  max_connections_per_address: int(0, 1_000_000, 100, "Connections one client address may hold (IPv6: per /64); loopback is exempt; 0 = no limit."),
  frame_timeout_secs: seconds(1, 60, "A frame must be complete this many seconds after its first byte, or the connection is closed."),
  auth_timeout_secs: seconds(1, 10, "With auth on, a connection without a successful Hello this many seconds after connecting is closed."),
  disconnect_grace_secs: seconds(0, 5, "Seconds after a worker's connection closes before its tasks go back to the queue."),
  default_max_retries: int(0, 1000, 3, "Retries of a failing task when the task sets none; then it is dead."),
  retry_base_delay_ms: int(0, 86_400_000, 1000, "First retry delay in ms; later ones grow by retry_factor."),
  retry_factor: z
    .number({ error: "a number >= 1" })
    .min(1, { error: "a number >= 1" })
    .default(2)
    .meta({ description: "Multiplier of the retry delay per failed attempt.", expected: "a number >= 1" } satisfies KeyMeta),
  retry_max_delay_ms: int(0, 30 * 86_400_000, 3_600_000, "Cap on one retry delay, in ms."),
  retry_jitter: fraction(0.2, "Random spread of each retry delay, as a fraction (0.2 = +/-20%)."),
  shutdown_timeout_secs: seconds(1, 30, "Seconds a clean shutdown may take before the broker exits anyway."),
});

/** A PostgreSQL URL, or nothing (the default: only persistence.backend: postgres needs one). */
const POSTGRES_URL = /^$|^postgres(ql)?:\/\/\S+$/;

/** persistence.postgres: the database several brokers share (docs/storage-postgres.md). */
const postgresSchema = section({
  url: z
    .string({ error: "a postgres:// URL" })
    .regex(POSTGRES_URL, { error: "a postgres://user:password@host:port/database URL" })
    .default("")
    .meta({
      description: "PostgreSQL database of the cluster, postgres://user:password@host:port/database (TLS etc. as URL parameters, e.g. ?sslmode=require); required with backend postgres. Its password is masked when the config is printed.",
      expected: "a postgres://user:password@host:port/database URL",
      secret: true,
    } satisfies KeyMeta),
  pool_size: int(3, 1000, 10, "Connections this broker opens to PostgreSQL (one more listens for the other brokers' notifications)."),
  schema: z
    .string({ error: "a schema name" })
    .regex(SCHEMA_NAME, { error: `a schema name: ${SCHEMA_NAME_RULE}` })
    .default("tq")
    .meta({
      description: "Schema holding tq-broker's tables (created and migrated by the broker at start); brokers of one cluster use the same one.",
      expected: `a schema name: ${SCHEMA_NAME_RULE}`,
    } satisfies KeyMeta),
  synchronous_commit: bool(true, "Each commit waits until PostgreSQL has flushed it to its WAL before a submit or result is acknowledged; false acknowledges sooner, and a PostgreSQL crash may lose the last moments of acknowledged work."),
});

const persistenceSchema = section({
  backend: oneOf(["sqlite", "postgres"] as const, "sqlite", "Where tasks are kept: sqlite (one broker, a file in data_dir) or postgres (one or several brokers on one PostgreSQL database, persistence.postgres)."),
  data_dir: nonEmpty("./data", "a directory path (not empty)", "Directory of the SQLite database and the lock file; created if missing. Relative paths are from the working directory."),
  sync: oneOf(["full", "interval"] as const, "full", "full: fsync each group commit before acking; interval: fsync every wal_sync_interval_ms."),
  wal_sync_interval_ms: positive(100, "With sync: interval, how often the WAL is synced to disk, in ms."),
  completed_task_retention_days: int(0, 36_500, 7, "Days finished (completed, dead, cancelled) tasks are kept before compaction removes them."),
  auto_compact: bool(true, "Run the background compaction job: delete finished tasks past their retention, then reclaim the space. false = no job at all: finished tasks are kept forever."),
  compact_interval_secs: seconds(1, 3600, "Seconds between background compactions (with auto_compact)."),
  max_wal_bytes: positive(64 * MIB, "WAL file size in bytes past which a checkpoint also truncates the file (checkpoints run every 4 MiB of new WAL)."),
  postgres: postgresSchema.prefault({}),
});

/**
 * The original spec's raft section, kept so that files written for it load. tq-broker has no
 * home-made consensus: several brokers share one PostgreSQL database instead
 * (persistence.backend: postgres), and node_id names each of them. `enabled: true` is refused
 * (config-rules.ts); the other keys are accepted and have no effect.
 */
const RAFT_UNUSED = "Accepted for compatibility with the original spec; has no effect (several brokers run on one PostgreSQL database, persistence.backend: postgres, not on Raft).";
const raftSchema = section({
  enabled: bool(false, "Raft multi-node mode: not part of tq-broker; true is refused at start. For several brokers use persistence.backend: postgres."),
  node_id: nonEmpty(
    "node1",
    "a non-empty string",
    "This broker's node id: shown in stats, /metrics (tq_node_info) and, with backend postgres, in every log line; with backend postgres it marks the leases and workers this broker serves, so each broker of a cluster needs its own.",
  ),
  peers: z
    .array(z.string().regex(HOST_PORT, { error: "host:port" }), { error: "a list of host:port strings" })
    .default([])
    .meta({ description: `Other Raft nodes, as host:port. ${RAFT_UNUSED}`, expected: "a list of host:port strings" } satisfies KeyMeta),
  election_timeout_ms: positive(1000, `Raft election timeout in ms. ${RAFT_UNUSED}`),
  heartbeat_interval_ms: positive(300, `Raft leader heartbeat interval in ms. ${RAFT_UNUSED}`),
  snapshot_interval_secs: seconds(1, 300, `Seconds between Raft snapshots. ${RAFT_UNUSED}`),
  data_dir: str("", `Directory for Raft state. ${RAFT_UNUSED}`),
});

const apiSchema = section({
  rest_port: port(8080, "HTTP port of the REST API and dashboard; 0 lets the OS pick one."),
  grpc_port: port(9090, "Port of the gRPC API (tq.v1.Broker, health and reflection; docs/grpc.md); 0 lets the OS pick one, as for every port. Binds broker.host."),
  grpc_enabled: bool(true, "Serve the gRPC API on api.grpc_port; false starts the broker without it (nothing binds that port). A separate key because a port of 0 means \"the OS picks one\"."),
  enable_tls: bool(false, "Serve every listener over TLS: the protocol port, the REST API, gRPC and /metrics (needs tls_cert_file and tls_key_file)."),
  tls_cert_file: str("", "PEM certificate chain for TLS."),
  tls_key_file: str("", "PEM private key for TLS."),
  tls_ca_file: str("", "PEM CA bundle: when set, every listener (protocol, REST, gRPC, metrics) refuses a client without a certificate signed by it; empty = no client certs."),
});

const authSchema = section({
  enabled: bool(false, "Require an API key on every connection and request."),
  api_keys: z
    .array(apiKeySchema, { error: "a list of {name, role, key} mappings" })
    .default([])
    .meta({
      description: "Keys: {name, role: admin|producer|worker, key or key_sha256}.",
      expected: "a list of {name, role, key} mappings",
      secret: true,
    } satisfies KeyMeta),
  metrics_require_auth: bool(false, "Require an admin key for /metrics too."),
  max_failures_per_connection: positive(3, "Failed authentications after which a connection is closed."),
});

const monitoringSchema = section({
  prometheus_port: port(9091, "HTTP port of /metrics; 0 lets the OS pick one."),
  log_level: oneOf(["debug", "info", "warn", "error"] as const, "info", "Least severe level logged."),
  json_logging: bool(true, "JSON lines on stdout; false = readable text lines."),
});

const workerSchema = section({
  concurrency: int(1, 10_000, 4, "Tasks one `tq-broker worker` process runs at once."),
  heartbeat_interval_secs: seconds(1, 15, "Seconds between worker heartbeats; the broker announces it to workers and declares one dead after two missed. `tq-broker worker --config` uses it when set here."),
  graceful_shutdown_timeout_secs: seconds(0, 60, "Seconds a stopping `tq-broker worker` lets running tasks finish before handing them back."),
  max_inactivity_secs: seconds(1, 60, "A worker silent this long is deregistered."),
});

/** Sections in the order docs and the shipped YAML list them. */
export const SECTION_SCHEMAS = {
  broker: brokerSchema,
  persistence: persistenceSchema,
  raft: raftSchema,
  api: apiSchema,
  auth: authSchema,
  monitoring: monitoringSchema,
  worker: workerSchema,
} as const;

export type SectionName = keyof typeof SECTION_SCHEMAS;
export const SECTION_NAMES = Object.keys(SECTION_SCHEMAS) as SectionName[];

export const ConfigSchema = z.strictObject(
  {
    broker: brokerSchema.prefault({}),
    persistence: persistenceSchema.prefault({}),
    raft: raftSchema.prefault({}),
    api: apiSchema.prefault({}),
    auth: authSchema.prefault({}),
    monitoring: monitoringSchema.prefault({}),
    worker: workerSchema.prefault({}),
  },
  { error: "a mapping of sections (broker, persistence, ...)" },
);

export type Config = z.output<typeof ConfigSchema>;

export const DEFAULT_CONFIG: Config = Object.freeze(ConfigSchema.parse({})) as Config;

/** One leaf key, for docs, env parsing and did-you-mean. */
export interface KeyInfo {
  section: SectionName;
  key: string;
  /** "broker.port"; a subsection's key "persistence.postgres.url" (its key is then "postgres.url"). */
  path: string;
  /** "TQ_BROKER_PORT" */
  envVar: string;
  meta: KeyMeta;
  defaultValue: unknown;
}

function metaOf(schema: z.ZodType, path: string): KeyMeta {
  const meta = schema.meta() as Partial<KeyMeta> | undefined;
  if (meta?.description === undefined || meta.expected === undefined) {
    throw new Error(`config schema: ${path} has no description/expected meta`);
  }
  return meta as KeyMeta;
}

/** Sections inside a section (one level deep), by path: their keys are listed as "sub.key". */
export const SUBSECTIONS: Readonly<Record<string, z.ZodObject>> = { "persistence.postgres": postgresSchema };

export const CONFIG_KEYS: readonly KeyInfo[] = SECTION_NAMES.flatMap((section) =>
  Object.entries(SECTION_SCHEMAS[section].shape).flatMap(([key, schema]): KeyInfo[] => {
    const sub = SUBSECTIONS[`${section}.${key}`];
    const defaults = (DEFAULT_CONFIG[section] as Record<string, unknown>)[key];
    if (sub === undefined) return [leafKey(section, key, schema as z.ZodType, defaults)];
    return Object.entries(sub.shape).map(([leaf, leafSchema]) =>
      leafKey(section, `${key}.${leaf}`, leafSchema as z.ZodType, (defaults as Record<string, unknown>)[leaf]),
    );
  }),
);

function leafKey(section: SectionName, key: string, schema: z.ZodType, defaultValue: unknown): KeyInfo {
  const path = `${section}.${key}`;
  return { section, key, path, envVar: envVarFor(section, key), meta: metaOf(schema, path), defaultValue };
}

/** TQ_<SECTION>_<KEY>, a subsection's dot an underscore: persistence.postgres.url is TQ_PERSISTENCE_POSTGRES_URL. */
export function envVarFor(section: string, key: string): string {
  return `TQ_${section}_${key}`.replaceAll(".", "_").toUpperCase();
}

export function keyInfo(path: string): KeyInfo | undefined {
  return CONFIG_KEYS.find((k) => k.path === path);
}
