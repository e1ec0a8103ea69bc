// Turns a listener's bind failure into a message naming the port and the config key that sets
// it, so an operator knows what to change. Used by every listener the app starts; binds nothing.

export class ListenError extends Error {
  /** The config key that chose the port, e.g. "broker.port". */
  readonly key: string;
  readonly port: number;
  /** errno name from the OS, e.g. "EADDRINUSE"; "" when unknown. */
  readonly code: string;

  constructor(message: string, key: string, port: number, code: string, cause: unknown) {
    super(message, { cause });
    this.key = key;
    this.port = port;
    this.code = code;
  }

  override get name(): string {
    return "ListenError";
  }
}

const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: "the port is already in use by another process",
  EACCES: "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
  EADDRNOTAVAIL: "the host address is not one of this machine's addresses",
};

export function listenError(err: unknown, key: string, port: number, host?: string): ListenError {
  const code = typeof err === "object" && err !== null && typeof (err as { code?: unknown }).code === "string" ? (err as { code: string }).code : "";
  const reason = REASONS[code] ?? (err instanceof Error ? err.message : String(err));
  const where = host === undefined ? `port ${port}` : `${host}:${port}`;
  return new ListenError(`cannot listen on ${where} (set by ${key}): ${reason}`, key, port, code, err);
}

/** Runs a bind call and rethrows its failure as a ListenError naming the key. */
export function bindOrExplain<T>(key: string, port: number, host: string | undefined, bind: () => T): T {
  try {
    return bind();
  } catch (err) {
    throw listenError(err, key, port, host);
  }
}
