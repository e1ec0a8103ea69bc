// `tq-broker serve`: loads config, starts the app, logs where it listens and where its data
// lives, and stops cleanly on SIGTERM/SIGINT. The only command that installs signal handlers.

import { startApp, type App } from "../app.ts";
import { DataLossError } from "../store/sqlite/open-checks.ts";
import { loadConfig, maskSecrets, type Config } from "../config/index.ts";
import { maskUrlPassword } from "../config/mask-secrets.ts";
import { createLogger, type LogFields, type Logger } from "../log.ts";
import type { Command } from "./command.ts";
import { EXIT } from "./exit-codes.ts";
import { flushStdio, stdout } from "./stdio.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";
import { versionInfo } from "../version.ts";
import { notifySystemd } from "../sd-notify.ts";
import { BANNER_HOLD_MS, banner, listenerUrls, StartupHold, type ListenerUrls } from "./serve-banner.ts";
import { styleFor, type Style } from "./style.ts";

const spec: ArgsSpec = {
  flags: {
    config: { type: "string", valueName: "FILE", description: "YAML config file (default: built-in defaults)" },
    port: { type: "string", valueName: "N", description: "TCP port, overrides broker.port (0 = any free port)" },
    "data-dir": { type: "string", valueName: "DIR", description: "data directory, overrides persistence.data_dir" },
    "accept-data-loss": {
      type: "boolean",
      description: "start even though the checks at open found data lost (damaged WAL, emptied database, task records failing their checksums); what is lost is logged",
    },
  },
};

/** Which config key each flag overrides: flags beat env, env beats the file. */
const FLAG_KEYS: Readonly<Record<string, string>> = { port: "broker.port", "data-dir": "persistence.data_dir" };

export const serveCommand: Command = {
  name: "serve",
  summary: "run the broker",
  flags: spec.flags,
  help: `usage: tq-broker serve [--config FILE] [--port N] [--data-dir DIR] [--accept-data-loss]

Runs the broker until SIGTERM or SIGINT (Ctrl-C), then shuts down cleanly and exits 0.
Settings come from built-in defaults < FILE < TQ_<SECTION>_<KEY> environment < these flags.
On a terminal, a short banner comes first: where each listener is (protocol, REST API,
dashboard, metrics), the data dir and durability (persistence.sync) or, with backend postgres,
the database (password masked), schema, node id and synchronous_commit, auth and TLS. On a pipe or
under systemd only the log lines are written; the "tq-broker started" line names the dashboard.
A data dir whose data cannot be trusted (see docs/guarantees.md) is refused with exit code 65 and
a list of what is damaged; --accept-data-loss starts anyway, once, and logs what was lost.

options:
${formatFlags(spec.flags)}`,
  async run(argv, ctx) {
    const args = parseArgs(argv, spec);
    const flags: Record<string, string> = {};
    for (const [flag, key] of Object.entries(FLAG_KEYS)) {
      const value = args.strings[flag];
      if (value !== undefined) flags[key] = value;
    }
    const config = loadConfig({ file: args.strings.config, env: ctx.env, flags });
    // A person at a terminal gets a banner first; a pipe or systemd's journal gets log lines only.
    const onTerminal = ctx.terminal?.stdout === true;
    const hold = new StartupHold((text) => stdout.write(text), onTerminal ? BANNER_HOLD_MS : 0);
    // Log lines go through the CLI's stdout writer so that main flushes them before exiting.
    const lines = createLogger({ level: config.monitoring.log_level, json: config.monitoring.json_logging, sink: (line) => hold.line(`${line}\n`) });
    // With several brokers on one database every line names its broker (docs/cluster.md), serve's
    // own too; last, so that readers matching `"msg":"listening","key":...` keep working.
    const log = config.persistence.backend === "postgres" ? withTrailingFields(lines, { node: config.raft.node_id }) : lines;
    const version = versionInfo();
    if (log.enabled("debug")) log.debug("effective config", { config: maskSecrets(config) });

    // Handlers go in before anything starts: a signal that arrives while starting (or right
    // after "started" is logged) must still mean a clean stop, not the default kill.
    const stopSignal = waitForStopSignal(() => {
      log.error("second signal: exiting without finishing shutdown", {});
      // Bounded: a second signal means "now", even with a reader that stopped reading.
      void Promise.race([flushStdio(), Bun.sleep(1000)]).then(() => process.exit(EXIT.failure));
    });
    let app;
    try {
      app = await startApp(config, lines, { acceptDataLoss: args.booleans["accept-data-loss"] === true });
    } catch (err) {
      if (err instanceof DataLossError) {
        log.error("refusing to start: the data cannot be trusted", { path: err.path, found: err.details, hint: "restore from a backup, or start once with --accept-data-loss" });
      }
      // What was logged before the failure explains it: never keep it back.
      hold.release();
      throw err;
    }
    const urls = listenerUrls(app.addresses, config.api.enable_tls);
    if (onTerminal) stdout.write(serveBanner(config, app, urls, styleFor(ctx, "stdout")));
    hold.release();
    // On PostgreSQL the data dir is unused (docs/storage-postgres.md): the line names the store.
    const where =
      config.persistence.backend === "postgres"
        ? { store: maskUrlPassword(config.persistence.postgres.url), schema: config.persistence.postgres.schema }
        : { data_dir: app.dataDir };
    log.info("tq-broker started", {
      version: version.version,
      pid: process.pid,
      ...where,
      config_file: args.strings.config ?? null,
      dashboard: urls.dashboard,
    });
    const listeners = Object.entries(app.addresses);
    for (const [key, address] of listeners) log.info("listening", { key, address });
    if (listeners.length === 0) log.warn("no listeners configured in this build yet", {});
    notifySystemd("READY=1", ctx.env, log);

    const signal = await stopSignal;
    notifySystemd("STOPPING=1", ctx.env, log);
    const timeoutMs = config.broker.shutdown_timeout_secs * 1000;
    const finished = await Promise.race([
      app.stop(signal).then(() => true),
      Bun.sleep(timeoutMs).then(() => false),
    ]);
    if (!finished) {
      log.error("shutdown took longer than broker.shutdown_timeout_secs; exiting anyway", { timeout_secs: config.broker.shutdown_timeout_secs });
      return EXIT.failure;
    }
    return EXIT.ok;
  },
};

function serveBanner(config: Config, app: App, urls: ListenerUrls, style: Style): string {
  return banner(
    {
      version: versionInfo().version,
      pid: process.pid,
      urls,
      allInterfaces: config.broker.host === "0.0.0.0" || config.broker.host === "::",
      dataDir: app.dataDir,
      ...(config.persistence.backend === "postgres"
        ? {
            postgres: {
              url: maskUrlPassword(config.persistence.postgres.url),
              schema: config.persistence.postgres.schema,
              nodeId: config.raft.node_id,
              synchronousCommit: config.persistence.postgres.synchronous_commit,
            },
          }
        : {}),
      sync: config.persistence.sync,
      walSyncIntervalMs: config.persistence.wal_sync_interval_ms,
      authEnabled: config.auth.enabled,
      apiKeys: config.auth.api_keys.length,
      tls: config.api.enable_tls,
    },
    style,
  );
}

/**
 * Resolves with the first SIGTERM/SIGINT. Until then a timer holds the event loop open: serve
 * must keep running even when no listener holds it. A second signal calls `onSecond`.
 */
function waitForStopSignal(onSecond: () => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const keepAlive = setInterval(() => {}, 1 << 30);
    let received = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (received) return onSecond();
      received = true;
      clearInterval(keepAlive);
      resolve(signal);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

/** `log` with `extra` added after each line's own fields. */
function withTrailingFields(log: Logger, extra: LogFields): Logger {
  const add = (fields: LogFields | undefined): LogFields => ({ ...fields, ...extra });
  return {
    debug: (msg, fields) => log.debug(msg, add(fields)),
    info: (msg, fields) => log.info(msg, add(fields)),
    warn: (msg, fields) => log.warn(msg, add(fields)),
    error: (msg, fields) => log.error(msg, add(fields)),
    child: (fields) => withTrailingFields(log.child(fields), extra),
    enabled: (level) => log.enabled(level),
  };
}
