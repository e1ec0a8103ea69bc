// Turns a BrokerError into the REST API's error reply: JSON {error: {code, name, message, field,
// retry_after_ms}} with the HTTP status of the one error table. Decides no status of its own.

import { BrokerError, ErrorCode, type ErrorCodeValue } from "../protocol/errors.ts";

export interface ErrorJson {
  error: {
    code: number;
    name: string;
    message: string;
    field: string | null;
    retry_after_ms: number | null;
  };
}

export function errorJson(err: BrokerError): ErrorJson {
  return {
    error: {
      code: err.code,
      name: err.name,
      message: err.message,
      field: err.field ?? null,
      retry_after_ms: err.retryAfterMs ?? null,
    },
  };
}

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

/** The table's status; Retry-After (whole seconds, rounded up) when the error carries a hint. */
export function errorResponse(err: BrokerError, headers: Record<string, string> = {}): Response {
  const extra: Record<string, string> = { ...headers };
  if (err.retryAfterMs !== undefined) extra["retry-after"] = String(Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
  return jsonResponse(err.spec.httpStatus, errorJson(err), extra);
}

export function httpError(code: ErrorCodeValue, message: string, field?: string): BrokerError {
  return new BrokerError(code, message, field === undefined ? {} : { field });
}

export function invalidField(field: string, message: string): BrokerError {
  return new BrokerError(ErrorCode.InvalidField, `${field}: ${message}`, { field });
}
