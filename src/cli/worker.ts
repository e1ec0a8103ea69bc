// `tq-broker worker --handlers FILE`: runs a Worker whose handlers come from the user's module
// (default export: task type -> async function), printing one line per finished task, until
// SIGTERM/SIGINT drains it. Loading and printing only; the Worker does the work.

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describeError, type Handler } from "../client/task-run.ts";
import { TqError } from "../client/tq-error.ts";
import { Worker, type WorkerOptions } from "../client/worker.ts";
import { CLIENT_FLAGS, clientOptionsFrom, parseCount, parseDuration, toJson } from "./client-options.ts";
import type { CliContext, Command } from "./command.ts";
import { EXIT, UsageError } from "./exit-codes.ts";
import { formatFlags, parseArgs, type ArgsSpec } from "./parse-args.ts";

const spec: ArgsSpec = {
  flags: {
    handlers: { type: "string", valueName: "FILE", description: "module whose default export maps task type -> async (task, ctx) => result (required)" },
    concurrency: { type: "string", valueName: "N", description: "most tasks running at once (default $TQ_WORKER_CONCURRENCY, else 4)" },
    queues: { type: "string", valueName: "A,B", description: "queues to serve, comma-separated (default \"default\")" },
    "graceful-timeout": { type: "string", valueName: "DURATION", description: "on SIGTERM, how long running tasks may finish before they are handed back (default $TQ_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT_SECS, else 60s)" },
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

function workerOptions(args: ReturnType<typeof parseArgs>, ctx: CliContext): WorkerOptions {
  const s = args.strings;
  const options: WorkerOptions = { ...clientOptionsFrom(args, ctx), clientName: "tq-broker-worker", handleSignals: false };
  const concurrency = s.concurrency ?? ctx.env.TQ_WORKER_CONCURRENCY;
  if (concurrency !== undefined) options.concurrency = parseCount("concurrency", concurrency, 1, 10_000);
  if (s.queues !== undefined) options.queues = s.queues.split(",").map((q) => q.trim()).filter((q) => q !== "");
  const gracefulSecs = ctx.env.TQ_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT_SECS;
  if (s["graceful-timeout"] !== undefined) options.gracefulShutdownTimeoutMs = parseDuration("graceful-timeout", s["graceful-timeout"]);
  else if (gracefulSecs !== undefined) options.gracefulShutdownTimeoutMs = parseCount("graceful-timeout", gracefulSecs, 0, 86_400) * 1000;
  if (s["task-timeout"] !== undefined) options.taskTimeoutMs = parseDuration("task-timeout", s["task-timeout"]);
  if (s["worker-id"] !== undefined) options.workerId = s["worker-id"];
  return options;
}

export const workerCommand: Command = {
  name: "worker",
  summary: "run a worker with handlers from your module",
  help: `usage: tq-broker worker --handlers FILE [--concurrency N] [--queues A,B] [--graceful-timeout DURATION]

Runs a worker process. FILE (.ts or .js) default-exports an object mapping each task type to an
async function (task, ctx) => result; task.payload is the parsed JSON payload, ctx.signal fires
when the task's lease is lost or shutdown stops waiting. A thrown error fails the run (retried
with backoff); an error whose name is "UnrecoverableError" sends the task straight to dead.

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
    let worker: Worker;
    try {
      worker = new Worker(workerOptions(args, ctx));
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

    try {
      await worker.start();
    } catch (err) {
      if (!(err instanceof TqError)) throw err;
      ctx.err(`tq-broker worker: cannot start: ${err.name}: ${err.message}`);
      return EXIT.failure;
    }
    const info = { workerId: worker.workerId, queues: worker.queues, concurrency: worker.concurrency, handlers: [...handlers.keys()] };
    line("started", info, `worker ${worker.workerId} serving ${worker.queues.join(",")} with concurrency ${worker.concurrency}; handles ${info.handlers.join(", ")}`);

    let received = false;
    let stopped = false;
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
    let resolveStop: (why: string) => void = () => {};
    const why = new Promise<string>((resolve) => (resolveStop = resolve));
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    // The broker told the worker to shut down (heartbeat command): nothing left to wait for.
    worker.once("stopped", () => resolveStop("broker shutdown command"));
    try {
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
