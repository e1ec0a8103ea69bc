// The one error table: every expected failure has a stable numeric code shared by the wire
// protocol, the HTTP API and the client SDK. Nobody parses message text; they read the code.
// Anything that is not a BrokerError is a bug and is answered as Internal.

export const ErrorCode = {
  BadFrame: 1,
  FrameTooLarge: 2,
  UnknownMessageType: 3,
  InvalidField: 4,
  UnsupportedVersion: 5,
  Unauthorized: 6,
  Forbidden: 7,
  NotFound: 8,
  InvalidState: 9,
  LeaseLost: 10,
  QueueFull: 11,
  TooManyConnections: 12,
  StorageUnavailable: 13,
  ShuttingDown: 14,
  ProtectedMode: 15,
  Timeout: 16,
  OutcomeUnknown: 17,
  Internal: 255,
} as const;

export type ErrorName = keyof typeof ErrorCode;
export type ErrorCodeValue = (typeof ErrorCode)[ErrorName];

export interface ErrorSpec {
  readonly name: ErrorName;
  /** HTTP status the REST API answers with. */
  readonly httpStatus: number;
  /** The same request may succeed if sent again later (after the retry-after hint, if any). */
  readonly retryable: boolean;
  /** The broker closes the connection after sending this error: framing or trust is gone. */
  readonly closesConnection: boolean;
  /** One line for docs and `--help`. */
  readonly meaning: string;
}

export const ERRORS: Readonly<Record<ErrorCodeValue, ErrorSpec>> = {
  1: { name: "BadFrame", httpStatus: 400, retryable: false, closesConnection: true, meaning: "the bytes are not a frame (zero length or unreadable header)" },
  2: { name: "FrameTooLarge", httpStatus: 413, retryable: false, closesConnection: true, meaning: "the declared frame length is over the 16 MiB limit" },
  3: { name: "UnknownMessageType", httpStatus: 400, retryable: false, closesConnection: false, meaning: "the message type byte is not one the broker knows" },
  4: { name: "InvalidField", httpStatus: 400, retryable: false, closesConnection: false, meaning: "a field is missing, of the wrong type, or out of range" },
  5: { name: "UnsupportedVersion", httpStatus: 400, retryable: false, closesConnection: true, meaning: "the Hello asks for a protocol version the broker does not speak" },
  6: { name: "Unauthorized", httpStatus: 401, retryable: false, closesConnection: false, meaning: "no valid API key was presented (send Hello with a key first)" },
  7: { name: "Forbidden", httpStatus: 403, retryable: false, closesConnection: false, meaning: "the API key's role does not allow this operation" },
  8: { name: "NotFound", httpStatus: 404, retryable: false, closesConnection: false, meaning: "no task, worker or queue with that id or name" },
  9: { name: "InvalidState", httpStatus: 409, retryable: false, closesConnection: false, meaning: "the task is not in a state that allows this operation" },
  10: { name: "LeaseLost", httpStatus: 409, retryable: false, closesConnection: false, meaning: "the lease token is stale: the task was reclaimed and may run elsewhere" },
  11: { name: "QueueFull", httpStatus: 429, retryable: true, closesConnection: false, meaning: "pending tasks reached queue_depth_threshold; retry after the hint" },
  12: { name: "TooManyConnections", httpStatus: 503, retryable: true, closesConnection: true, meaning: "the broker is at max_connections" },
  13: { name: "StorageUnavailable", httpStatus: 503, retryable: true, closesConnection: false, meaning: "the store could not commit (disk full, I/O error, PostgreSQL unreachable); nothing was acknowledged" },
  14: { name: "ShuttingDown", httpStatus: 503, retryable: true, closesConnection: true, meaning: "the broker is stopping: the request was not carried out" },
  15: { name: "ProtectedMode", httpStatus: 403, retryable: false, closesConnection: true, meaning: "auth is off and the broker serves only loopback clients" },
  16: { name: "Timeout", httpStatus: 504, retryable: true, closesConnection: false, meaning: "the operation did not finish in the time allowed" },
  17: {
    name: "OutcomeUnknown",
    httpStatus: 503,
    retryable: true,
    // The broker exits right after (closing every connection), once the other requests waiting are answered too.
    closesConnection: false,
    meaning: "the write was committed but could not be made durable (fsync failed): it may or may not be stored; the broker exits, check or resend (with an idempotency key) after its restart",
  },
  255: { name: "Internal", httpStatus: 500, retryable: true, closesConnection: false, meaning: "a bug in the broker; the request may or may not have taken effect" },
};

export function errorSpec(code: number): ErrorSpec {
  return ERRORS[code as ErrorCodeValue] ?? ERRORS[ErrorCode.Internal];
}

export interface BrokerErrorOptions {
  /** The request field that was wrong, e.g. "priority" or "broker.port". */
  field?: string;
  /** For retryable errors: how long the client should wait before trying again. */
  retryAfterMs?: number;
  cause?: unknown;
}

/** An expected failure: carries its code, the offending field and a message naming the value. */
export class BrokerError extends Error {
  readonly code: ErrorCodeValue;
  readonly field: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCodeValue, message: string, options: BrokerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options.field;
    this.retryAfterMs = options.retryAfterMs;
  }

  override get name(): string {
    return ERRORS[this.code].name;
  }

  get spec(): ErrorSpec {
    return ERRORS[this.code];
  }
}

/** Turns anything thrown into a BrokerError; unexpected errors become Internal (the caller logs them). */
export function toBrokerError(err: unknown): BrokerError {
  if (err instanceof BrokerError) return err;
  return new BrokerError(ErrorCode.Internal, "internal error", { cause: err });
}
