// Conversions between BrokerError and the Error frame: the server turns a thrown error into an
// ErrorResponse, the client turns an ErrorResponse back into a BrokerError with the same code.
// Reads codes from the one table in errors.ts; never looks at message text.

import { BrokerError, ERRORS, ErrorCode, toBrokerError, type ErrorCodeValue } from "./errors.ts";
import type { ErrorResponse } from "./messages.ts";

/** Long enough for any message that names its value; bounded so an echoed huge value cannot bloat the reply. */
const MAX_MESSAGE_CHARS = 1000;
const MAX_FIELD_CHARS = 200;

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 3)}...`;
}

/** The Error frame for anything thrown while serving request `requestId` (non-BrokerErrors become Internal). */
export function errorResponse(requestId: number, err: unknown): ErrorResponse {
  const e = toBrokerError(err);
  return {
    kind: "Error",
    requestId,
    code: e.code,
    retryAfterMs: Math.max(0, Math.min(0xffff_ffff, Math.round(e.retryAfterMs ?? 0))),
    field: clip(e.field ?? "", MAX_FIELD_CHARS),
    message: clip(e.message, MAX_MESSAGE_CHARS),
  };
}

/** The BrokerError an Error frame stands for; a code this build does not know becomes Internal. */
export function brokerErrorFrom(m: ErrorResponse): BrokerError {
  const known = Object.hasOwn(ERRORS, m.code);
  const code = known ? (m.code as ErrorCodeValue) : ErrorCode.Internal;
  const message = known ? m.message : `unknown error code ${m.code}: ${m.message}`;
  return new BrokerError(code, message, {
    ...(m.field === "" ? {} : { field: m.field }),
    ...(m.retryAfterMs === 0 ? {} : { retryAfterMs: m.retryAfterMs }),
  });
}
