// `tq-broker migrate`: moves a single broker's SQLite queue (persistence.data_dir) into the
// PostgreSQL schema of a cluster (persistence.postgres), from the broker's config, TQ_* variables
// and flags. Flags and the report only; the copy is store/sqlite-to-postgres.ts.

import { loadConfig } from "../config/index.ts";
import { maskUrlPassword } from "../config/mask-secrets.ts";
import { DataDirError } from "../store/data-dir.ts";
import { migrateSqliteToPostgres, MigrateError, type SqliteToPostgresReport } from "../store/sqlite-to-postgres.ts";
import type { Command } from "./command.ts";
import { EXIT, UsageError } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";

const spec: ArgsSpec = {
  flags: {
    config: { type: "string", valueName: "FILE", description: "the broker's YAML config: persistence.data_dir (the source) and persistence.postgres.url / .schema (the target)" },
    "data-dir": { type: "string", valueName: "DIR", description: "the SQLite broker's data dir (default persistence.data_dir: ./data)" },
    "postgres-url": { type: "string", valueName: "URL", description: "postgres://user:password@host:port/database of the cluster (default persistence.postgres.url, $TQ_PERSISTENCE_POSTGRES_URL)" },
    schema: { type: "string", valueName: "NAME", description: "schema of the cluster's tables (default persistence.postgres.schema: tq)" },
    "unfinished-only": { type: "boolean", description: "copy only tasks not finished (pending, scheduled, failed awaiting retry); by default completed, dead and cancelled ones come too, with their results" },
    json: { type: "boolean", description: "print the report as one JSON document" },
  },
};

const HELP = `usage: tq-broker migrate [--config FILE] [--data-dir DIR] [--postgres-url URL] [--schema NAME] [--unfinished-only] [--json]

Copies a single broker's SQLite queue (DIR/tq.db) into the PostgreSQL schema several brokers share
(persistence.backend: postgres, docs/cluster.md). Stop the SQLite broker first: its data dir must
not be locked by a running broker (the command refuses, naming its pid) and stays locked for the copy.

Kept: ids, idempotency keys, priorities, queues, payloads, run-at times, attempts, max retries,
leases' lengths, created/updated times; for finished tasks their results, errors and run history;
paused queues. Tasks that were running when the broker stopped are pending again (their leases
ended with the broker), as a restart of that broker would have made them.
All in one transaction: on any error nothing is written. Running it again copies nothing twice: a
task whose id is already in PostgreSQL is left as it is there (and counted as already there).
Brokers already running on the schema see the copied tasks at once.

Exit: 0 copied; 1 something was not copied (a damaged row, an idempotency key another task holds
there; listed) or the source/target could not be used; 64 bad flags; 78 bad config.

options:
${formatFlags(spec.flags)}`;

export const migrateCommand: Command = {
  name: "migrate",
  summary: "copy a single broker's SQLite queue into PostgreSQL (several brokers)",
  flags: spec.flags,
  help: HELP,
  async run(argv, ctx) {
    const args = parseArgs(argv, spec);
    const s = args.strings;
    const flags: Record<string, unknown> = {};
    if (s["data-dir"] !== undefined) flags["persistence.data_dir"] = s["data-dir"];
    if (s["postgres-url"] !== undefined) flags["persistence.postgres.url"] = s["postgres-url"];
    if (s.schema !== undefined) flags["persistence.postgres.schema"] = s.schema;
    const config = loadConfig({ file: s.config, env: ctx.env, flags });
    const url = config.persistence.postgres.url;
    if (url === "") throw new UsageError("no PostgreSQL to copy into: give --postgres-url, persistence.postgres.url in --config, or TQ_PERSISTENCE_POSTGRES_URL");
    let report: SqliteToPostgresReport;
    try {
      report = await migrateSqliteToPostgres({
        dataDir: config.persistence.data_dir,
        postgresUrl: url,
        schema: config.persistence.postgres.schema,
        finished: args.booleans["unfinished-only"] !== true,
      });
    } catch (err) {
      if (err instanceof MigrateError || err instanceof DataDirError) {
        ctx.err(`tq-broker migrate: ${err.message}`);
        return EXIT.failure;
      }
      const message = err instanceof Error ? err.message : String(err);
      ctx.err(`tq-broker migrate: PostgreSQL at ${maskUrlPassword(url)}: ${message}; nothing was written`);
      return EXIT.failure;
    }
    const problems = report.damaged.length + report.keyTaken.length;
    if (args.booleans.json === true) ctx.out(JSON.stringify({ ...report, target: maskUrlPassword(url) }, null, 2));
    else ctx.out(describe(report, maskUrlPassword(url)));
    return problems > 0 ? EXIT.failure : EXIT.ok;
  },
};

const ORDER = ["pending", "scheduled", "failed", "completed", "dead", "cancelled"] as const;

function describe(r: SqliteToPostgresReport, target: string): string {
  const total = Object.values(r.copied).reduce((a, b) => a + (b ?? 0), 0);
  const lines = [
    `copied ${total} task${total === 1 ? "" : "s"} from ${r.dataDir}/tq.db into ${target} schema ${r.schema}:`,
    `  ${ORDER.map((s) => `${r.copied[s] ?? 0} ${s}`).join(", ")}`,
  ];
  if (r.inProgressRequeued > 0) lines.push(`  ${r.inProgressRequeued} marked in_progress in the file: pending again`);
  lines.push(`  already there (same id, an earlier run): ${r.alreadyThere}`);
  if (r.finishedSkipped > 0) lines.push(`  finished tasks left out (--unfinished-only): ${r.finishedSkipped}`);
  lines.push(`  run history entries: ${r.runs}; paused queues: ${r.pausedQueues}`);
  if (r.keyTaken.length > 0) lines.push(`NOT copied, their idempotency key is held by another task in PostgreSQL: ${r.keyTaken.join(", ")}`);
  if (r.damaged.length > 0) lines.push(`NOT copied, damaged in the file (fail their checksums): ${r.damaged.join(", ")}`);
  lines.push(`${r.dataDir} is unchanged: do not start a SQLite broker on it again (it would run these tasks a second time).`);
  return lines.join("\n");
}
