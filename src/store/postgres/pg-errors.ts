// What a PostgreSQL failure means to the broker: a transaction worth running again (deadlock,
// serialization), or the database out of reach (StorageUnavailable, retryable by the client).
// Reads Bun.sql's error codes and the server's SQLSTATE; never the message text.

import { BrokerError, ErrorCode } from "../../protocol/errors.ts";

/** SQLSTATEs after which the same transaction may simply be run again. */
const RETRY_TX = new Set(["40001", "40P01"]);

interface PgErrorShape {
  code?: unknown;
  errno?: unknown;
  message?: unknown;
}

/** A deadlock or serialization failure: nothing was committed, and running it again may succeed. */
export function isRetryableTx(err: unknown): boolean {
  const errno = (err as PgErrorShape | null)?.errno;
  return typeof errno === "string" && RETRY_TX.has(errno);
}

/**
 * The database did not take the work. `duringCommit`: the connection failed after COMMIT was
 * sent, so the transaction may or may not have committed; the client is told so (a resend with
 * an idempotency key is safe either way). Nothing is acknowledged in both cases.
 */
export function storageUnavailable(cause: unknown, duringCommit = false): BrokerError {
  const what = describe(cause);
  const message = duringCommit
    ? `PostgreSQL did not confirm the commit (${what}); it may or may not have been stored: check, or resend with an idempotency key`
    : `PostgreSQL could not be reached or refused the work (${what}); nothing was acknowledged`;
  return new BrokerError(ErrorCode.StorageUnavailable, message, { retryAfterMs: 1000, cause });
}

function describe(cause: unknown): string {
  const e = cause as PgErrorShape | null;
  const parts: string[] = [];
  if (typeof e?.code === "string") parts.push(e.code);
  if (typeof e?.errno === "string") parts.push(`SQLSTATE ${e.errno}`);
  if (typeof e?.message === "string") parts.push(e.message);
  return parts.length > 0 ? parts.join(": ") : String(cause);
}
