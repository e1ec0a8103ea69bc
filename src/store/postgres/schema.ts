// The PostgreSQL schema and its numbered migrations, applied by the broker at start under an
// advisory lock, so two brokers starting at once migrate once and the second waits. Knows
// nothing of tasks beyond their columns; the Store's statements live beside it.

import { getRandomValues } from "node:crypto";
import type { SQL } from "bun";

/**
 * Every migration, in order; the database records the last one applied (meta.schema_version).
 * Never edit one that has shipped: add the next.
 *
 * Times are epoch ms (bigint) from the broker's clock, as the Store contract passes them; the
 * brokers' clocks are expected to agree (NTP), see docs/storage-postgres.md.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
  -- Order of readiness: a task joins the end of its priority's line each time it becomes pending.
  CREATE SEQUENCE ready_seq;
  -- Lease serials; a worker sees a keyed permutation of serial mod 2^32 (the token).
  CREATE SEQUENCE lease_serial;
  CREATE TABLE tasks (
    id uuid PRIMARY KEY,
    queue text NOT NULL,
    type text NOT NULL,
    priority smallint NOT NULL,
    status text NOT NULL,
    payload bytea NOT NULL,
    payload_is_json boolean NOT NULL,
    result bytea,
    result_is_json boolean NOT NULL DEFAULT false,
    error text,
    attempts integer NOT NULL DEFAULT 0,
    max_retries integer NOT NULL,
    lease_ms bigint NOT NULL,
    idempotency_key text,
    run_at bigint,
    ready_seq bigint,
    ready_at bigint,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    started_at bigint,
    finished_at bigint,
    worker_id text,
    lease_serial bigint,
    lease_expires_at bigint,
    lease_node text
  );
  CREATE INDEX tasks_ready ON tasks (queue, priority DESC, ready_seq) WHERE status = 'pending';
  CREATE INDEX tasks_due ON tasks (run_at) WHERE status IN ('scheduled', 'failed');
  CREATE INDEX tasks_lease_expiry ON tasks (lease_expires_at) WHERE status = 'in_progress';
  CREATE INDEX tasks_worker ON tasks (worker_id) WHERE status = 'in_progress';
  CREATE INDEX tasks_finished ON tasks (finished_at) WHERE status IN ('completed', 'dead', 'cancelled');
  CREATE UNIQUE INDEX tasks_idempotency ON tasks (idempotency_key) WHERE idempotency_key IS NOT NULL;
  -- Finished tasks per queue and status (counts), read from the index alone.
  CREATE INDEX tasks_finished_by_queue ON tasks (queue, status) WHERE status IN ('completed', 'dead', 'cancelled');
  -- The runs of a task that ended other than completed (a completed run is read from its row).
  CREATE TABLE runs (
    n bigserial PRIMARY KEY,
    task_id uuid NOT NULL,
    worker_id text NOT NULL,
    started_at bigint NOT NULL,
    ended_at bigint NOT NULL,
    outcome text NOT NULL,
    error text
  );
  CREATE INDEX runs_task ON runs (task_id, n);
  -- Queues an operator paused: every broker serves none of their tasks until resumed.
  CREATE TABLE paused_queues (queue text PRIMARY KEY, paused_at bigint NOT NULL);
  -- Which broker each worker last spoke to, so a broker it left does not declare it dead.
  CREATE TABLE workers (worker_id text PRIMARY KEY, node_id text NOT NULL, seen_at bigint NOT NULL);
  -- The brokers of the cluster and their last sign of life (readiness pings write it).
  CREATE TABLE brokers (node_id text PRIMARY KEY, instance text NOT NULL, started_at bigint NOT NULL, seen_at bigint NOT NULL);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Letters, digits and underscores, starting with a letter or underscore: safe in an identifier as
 * written. At most 53, so that the notification channel tq_events_<schema> fits PostgreSQL's
 * 63-byte names (a longer one made every broker fail at start, after creating the schema).
 */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,52}$/;
/** SCHEMA_NAME in words, for the errors that refuse a name. */
export const SCHEMA_NAME_RULE = "lowercase letters, digits and _, starting with a letter or _, at most 53 characters";

export interface MigrateResult {
  from: number;
  to: number;
}

/**
 * Creates the schema if missing and applies the migrations it lacks, each in its own transaction,
 * holding an advisory lock for the whole of it on one reserved session: a broker that starts
 * while another migrates waits, then finds nothing left to do.
 */
export async function migrate(sql: SQL, schema: string): Promise<MigrateResult> {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`schema name ${JSON.stringify(schema)}: expected ${SCHEMA_NAME_RULE}`);
  const session = await sql.reserve();
  const lockKey = `tq-broker migrate ${schema}`;
  try {
    await session`SELECT pg_advisory_lock(hashtext(${lockKey}))`;
    try {
      await session.unsafe(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await session.unsafe(`SET search_path TO "${schema}"`);
      const from = await currentVersion(session, schema);
      if (from > SCHEMA_VERSION) {
        throw new Error(`schema ${schema} is at version ${from}, newer than this tq-broker knows (${SCHEMA_VERSION}): upgrade the broker`);
      }
      for (let v = from; v < SCHEMA_VERSION; v++) {
        await session.begin(async (tx) => {
          await tx.unsafe(MIGRATIONS[v]!);
          if (v === 0) await tx`INSERT INTO meta (key, value) VALUES ('lease_token_key', ${randomKeyHex()})`;
          await tx`INSERT INTO meta (key, value) VALUES ('schema_version', ${String(v + 1)})
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value`;
        });
      }
      return { from, to: SCHEMA_VERSION };
    } finally {
      await session`SELECT pg_advisory_unlock(hashtext(${lockKey}))`.catch(() => undefined);
    }
  } finally {
    await session.unsafe("RESET search_path").catch(() => undefined);
    session.release();
  }
}

async function currentVersion(session: SQL, schema: string): Promise<number> {
  const [exists] = await session`SELECT to_regclass(${`"${schema}".meta`}) IS NOT NULL AS present`;
  if (!(exists as { present: boolean }).present) return 0;
  const rows = await session`SELECT value FROM meta WHERE key = 'schema_version'`;
  return rows.length === 0 ? 0 : Number((rows[0] as { value: string }).value);
}

/** The key of the lease-token permutation: made once per database, read by every broker. */
function randomKeyHex(): string {
  return Buffer.from(getRandomValues(new Uint8Array(16))).toString("hex");
}
