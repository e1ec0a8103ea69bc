// The logger every part receives (never a global): JSON lines or readable text, level-filtered.
// Writes to one sink (stdout by default); knows nothing about config files or the CLI.

export const LOG_LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LOG_LEVELS;
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. { component: "net" }). */
  child(fields: LogFields): Logger;
  /** Lets a caller skip building expensive fields for a level that is filtered out. */
  enabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level: LogLevel;
  json: boolean;
  /** Receives each finished line without its newline; default writes it to stdout. */
  sink?: (line: string) => void;
  /** Clock for the `ts` field; tests pass a fixed one. */
  now?: () => Date;
}

export function createLogger(options: LoggerOptions): Logger {
  const sink = options.sink ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const now = options.now ?? (() => new Date());
  return makeLogger(LOG_LEVELS[options.level], options.json, sink, now, {});
}

/** A logger that drops everything: for tests and library callers that pass none. */
export const silentLogger: Logger = createLogger({ level: "error", json: true, sink: () => {} });

function makeLogger(min: number, json: boolean, sink: (line: string) => void, now: () => Date, base: LogFields): Logger {
  const emit = (level: LogLevel, msg: string, fields: LogFields | undefined): void => {
    // The level check comes first so a filtered call costs one comparison and no allocation.
    if (LOG_LEVELS[level] < min) return;
    const merged = fields === undefined ? base : { ...base, ...fields };
    const ts = now().toISOString();
    sink(json ? jsonLine(ts, level, msg, merged) : textLine(ts, level, msg, merged));
  };
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    child: (fields) => makeLogger(min, json, sink, now, { ...base, ...fields }),
    enabled: (level) => LOG_LEVELS[level] >= min,
  };
}

function jsonLine(ts: string, level: LogLevel, msg: string, fields: LogFields): string {
  const record: Record<string, unknown> = { ts, level, msg };
  for (const [key, value] of Object.entries(fields)) {
    // ts/level/msg are the line's frame; a field of the same name must not overwrite them.
    record[key in record ? `field_${key}` : key] = serializable(value);
  }
  try {
    return JSON.stringify(record);
  } catch (err) {
    // A cyclic field must not turn a log call into a crash.
    return JSON.stringify({ ts, level, msg, log_error: `fields not serializable: ${String(err)}` });
  }
}

function textLine(ts: string, level: LogLevel, msg: string, fields: LogFields): string {
  let line = `${ts} ${level.toUpperCase().padEnd(5)} ${msg}`;
  let stack = "";
  for (const [key, value] of Object.entries(fields)) {
    // As in JSON lines, an undefined field is absent: "queues=undefined" tells a reader nothing.
    if (value === undefined) continue;
    if (value instanceof Error) {
      line += ` ${key}=${quote(value.message)}`;
      if (value.stack !== undefined) stack += `\n${indent(value.stack)}`;
    } else {
      line += ` ${key}=${quote(value)}`;
    }
  }
  return line + stack;
}

function quote(value: unknown): string {
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === "bigint") return value.toString();
  if (value === undefined) return "undefined";
  try {
    return JSON.stringify(serializable(value)) ?? String(value);
  } catch {
    return String(value);
  }
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");
}

/** Errors keep their message and stack (JSON.stringify would give {}); bigints become strings. */
function serializable(value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: value.message, stack: value.stack };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    if (value.cause !== undefined) out.cause = serializable(value.cause);
    return out;
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}
