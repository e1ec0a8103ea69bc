// `tq-broker worker --handlers FILE`: runs a Worker whose handlers come from the user's module
// (default export: task type -> async function), printing one line per finished task, until
// SIGTERM/SIGINT drains it. Loading and printing only; the Worker does the work.

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describeError, type Handler } from "../client/task-run.ts";
import { TqError } from "../client/tq-error.ts";
import { Worker, type WorkerOptions } from "../client/worker.ts";
import { loadConfigWithSources } from "../config/index.ts";
import { MAX_SUBSCRIBE_CREDITS } from "../protocol/limits.ts";
import { CLIENT_FLAGS, clientOptionsFrom, parseCount, parseDuration, toJson } from "./client-options.ts";
import type { CliContext, Command } from "./command.ts";
import { EXIT, UsageError } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";

const spec: ArgsSpec = {
  flags: {
    handlers: { type: "string", valueName: "FILE", description: "module whose default export maps task type -> async (task, ctx) => result (required)" },
    config: { type: "string", valueName: "FILE", description: "YAML config file; its worker section sets concurrency, heartbeat interval and graceful shutdown" },
    concurrency: { type: "string", valueName: "N", description: "most tasks running at once (default worker.concurrency: 4)" },
    prefetch: { type: "string", valueName: "N", description: "most tasks held at once, running or waiting for a slot, 1-10000 (default adaptive: what the handlers' speed needs)" },
    queues: { type: "string", valueName: "A,B", description: "queues to serve, comma-separated (default \"default\")" },
    "graceful-timeout": { type: "string", valueName: "DURATION", description: "on SIGTERM, how long running tasks may finish before they are handed back (default worker.graceful_shutdown_timeout_secs: 60s)" },
    "task-timeout": { type: "string", valueName: "DURATION", description: "longest one handler may run (default: no limit; the lease is renewed while it runs)" },
    "worker-id": { type: "string", valueName: "ID", description: "name shown in `tq-broker workers` (default host-pid-random)" },
    ...CLIENT_FLAGS,
  },
};

/** Imports the user's module from disk (works from the compiled binary too) and checks its shape. */
export async function loadHandlers(file: string, cwd: string = process.cwd()): Promise<Map<string, Handler>> {
  const path = resolve(cwd, file);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`--handlers ${file}: cannot load ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const table = mod.default;
  if (typeof table !== "object" || table === null || Array.isArray(table)) {
    throw new UsageError(`--handlers ${file}: the default export must be an object mapping task type -> function, e.g. export default { "email.send": async (task) => ... }`);
  }
  const handlers = new Map<string, Handler>();
  for (const [type, fn] of Object.entries(table)) {
    if (typeof fn !== "function") throw new UsageError(`--handlers ${file}: the handler for ${JSON.stringify(type)} is a ${typeof fn}, not a function`);
    handlers.set(type, fn as Handler);
  }
  if (handlers.size === 0) throw new UsageError(`--handlers ${file}: the default export has no handlers`);
  return handlers;
}

/** Only the worker section concerns this command; other TQ_* variables are the broker's business. */
function workerEnv(env: CliContext["env"]): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith("TQ_WORKER_")));
}

interface WorkerSettings {
  options: WorkerOptions;
  /** worker.heartbeat_interval_secs in ms when the file or env set it; else the broker's is used. */
  configuredHeartbeatMs: number | undefined;
}

/** Flags win over TQ_WORKER_* env, env over the --config file, the file over the defaults. */
function workerSettings(args: ReturnType<typeof parseArgs>, ctx: CliContext): WorkerSettings {
  const s = args.strings;
  // A bad file or TQ_WORKER_* value throws ConfigError: exit 78 with the key's path, as for serve.
  const { config, sources } = loadConfigWithSources({ file: s.config, env: workerEnv(ctx.env) });
  const w = config.worker;
  const options: WorkerOptions = { ...clientOptionsFrom(args, ctx), clientName: "tq-broker-worker", handleSignals: false };
  options.concurrency = s.concurrency !== undefined ? parseCount("concurrency", s.concurrency, 1, 10_000) : w.concurrency;
  if (s.prefetch !== undefined) options.prefetch = parseCount("prefetch", s.prefetch, 1, MAX_SUBSCRIBE_CREDITS);
  if (s.queues !== undefined) options.queues = s.queues.split(",").map((q) => q.trim()).filter((q) => q !== "");
  options.gracefulShutdownTimeoutMs =
    s["graceful-timeout"] !== undefined ? parseDuration("graceful-timeout", s["graceful-timeout"]) : Math.round(w.graceful_shutdown_timeout_secs * 1000);
  // Left at its default, the broker's announced interval is followed: the broker declares a
  // worker dead after two of ITS intervals, so a worker must not guess a slower one.
  const configuredHeartbeatMs = sources.has("worker.heartbeat_interval_secs") ? Math.round(w.heartbeat_interval_secs * 1000) : undefined;
  if (configuredHeartbeatMs !== undefined) options.heartbeatIntervalMs = configuredHeartbeatMs;
  if (s["task-timeout"] !== undefined) options.taskTimeoutMs = parseDuration("task-timeout", s["task-timeout"]);
  if (s["worker-id"] !== undefined) options.workerId = s["worker-id"];
  return { options, configuredHeartbeatMs };
}

export const workerCommand: Command = {
  name: "worker",
  summary: "run a worker with handlers from your module",
  flags: spec.flags,
  help: `usage: tq-broker worker --handlers FILE [--config FILE] [--concurrency N] [--prefetch N] [--queues A,B] [--graceful-timeout DURATION]

Runs a worker process. FILE (.ts or .js) default-exports an object mapping each task type to an
async function (task, ctx) => result; task.payload is the parsed JSON payload, ctx.signal fires
when the task's lease is lost or shutdown stops waiting. A thrown error fails the run (retried
with backoff); an error whose name is "UnrecoverableError" sends the task straight to dead.

Tasks come through a subscription: the broker pushes up to a window of them so that a slot that
frees starts its next task at once (by default the window follows the handlers' speed, between
the concurrency and 1000; --prefetch fixes it); outcomes are reported in the background. A broker
without subscriptions is served with blocking claims instead.

Settings: flags win over TQ_WORKER_* environment variables, which win over the worker section of
--config FILE (worker.concurrency, worker.heartbeat_interval_secs,
worker.graceful_shutdown_timeout_secs), then the defaults. Unless set there, the heartbeat follows
the interval the broker announces. A bad value exits 78 naming the key.

SIGTERM or SIGINT: stop claiming, let running tasks finish (up to --graceful-timeout), hand the
rest back to the broker, deregister, exit 0. A second signal hands back at once.

example handlers.ts:
  export default {
    "email.send": async (task) => { await send(task.payload.to); return { sent: true }; },
  };

options:
${formatFlags(spec.flags)}`,
  async run(argv, ctx) {
    const args = parseArgs(argv, spec);
    const file = args.strings.handlers;
    if (file === undefined) throw new UsageError("missing --handlers FILE");
    const handlers = await loadHandlers(file);
    const settings = workerSettings(args, ctx);
    let worker: Worker;
    try {
      worker = new Worker(settings.options);
    } catch (err) {
      // A bad --url or --concurrency value is a command-line mistake.
      if (err instanceof TqError) throw new UsageError(err.message);
      throw err;
    }
    for (const [type, fn] of handlers) worker.register(type, fn);
    const json = args.booleans.json === true;
    const line = (event: string, fields: Record<string, unknown>, text: string): void => ctx.out(json ? JSON.stringify({ event, ...fields }) : text);
    worker.on("completed", (task: { id: string; type: string }) => line("completed", { id: task.id, type: task.type }, `completed ${task.id} ${task.type}`));
    worker.on("failed", (task: { id: string; type: string }, err: unknown, outcome: { status: string; retryAtMs: number | null; attempts: number }) => {
      const message = describeError(err).split("\n", 1)[0] ?? "";
      const next = outcome.status === "dead" ? "dead" : `retry at ${outcome.retryAtMs === null ? "?" : new Date(outcome.retryAtMs).toISOString()}`;
      line("failed", { id: task.id, type: task.type, error: message, ...outcome }, `failed ${task.id} ${task.type} (attempt ${outcome.attempts}, ${next}): ${message}`);
    });
    worker.on("error", (err: unknown) => ctx.err(`tq-broker worker: ${err instanceof TqError ? `${err.name}: ${err.message}` : describeError(err)}`));

    // Signal handlers go in before the worker starts: a SIGTERM that arrives right after
    // "started" is printed (or while connecting) must drain, not kill the process.
    let received = false;
    let stopped = false;
    let resolveStop: (why: string) => void = () => {};
    const why = new Promise<string>((resolve) => (resolveStop = resolve));
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopped) return;
      if (received) {
        ctx.err("tq-broker worker: second signal: handing back running tasks now");
        void worker.stop({ timeoutMs: 0 });
        return;
      }
      received = true;
      resolveStop(sig);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    try {
      try {
        await worker.start();
      } catch (err) {
        if (!(err instanceof TqError)) throw err;
        ctx.err(`tq-broker worker: cannot start: ${err.name}: ${err.message}`);
        return EXIT.failure;
      }
      const brokerHeartbeatMs = worker.client.channel.hello?.heartbeatIntervalMs;
      if (settings.configuredHeartbeatMs !== undefined && brokerHeartbeatMs !== undefined && settings.configuredHeartbeatMs > brokerHeartbeatMs) {
        ctx.err(
          `tq-broker worker: warning: worker.heartbeat_interval_secs is ${settings.configuredHeartbeatMs / 1000} s but the broker expects a heartbeat ` +
            `every ${brokerHeartbeatMs / 1000} s and declares a worker dead after two missed; set the same value on both`,
        );
      }
      const prefetch = worker.prefetch ?? "auto";
      const channel = worker.client.channel;
      let broker = channel.endpoint.display;
      const info = { workerId: worker.workerId, queues: worker.queues, concurrency: worker.concurrency, prefetch, handlers: [...handlers.keys()], broker };
      line(
        "started",
        info,
        `worker ${worker.workerId} serving ${worker.queues.join(",")} with concurrency ${worker.concurrency} (prefetch ${prefetch}); handles ${info.handlers.join(", ")}; broker ${broker}`,
      );
      // With several brokers (--url a,b): say when the worker moved to another one.
      channel.on("connected", () => {
        const now = channel.endpoint.display;
        if (now === broker) return;
        line("connected", { broker: now, from: broker }, `connected to ${now} (was ${broker}): registered and subscribed there`);
        broker = now;
      });
      // The broker told the worker to shut down (heartbeat command): nothing left to wait for.
      worker.once("stopped", () => resolveStop("broker shutdown command"));
      const reason = await why;
      line("stopping", { reason, running: worker.runningCount }, `${reason}: stopping; ${worker.runningCount} task(s) running`);
      await worker.stop();
      line("stopped", {}, "stopped");
    } finally {
      stopped = true;
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    }
    return EXIT.ok;
  },
};
