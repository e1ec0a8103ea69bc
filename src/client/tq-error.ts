// The SDK's error classes: one per code of protocol/errors.ts ERRORS, chosen by a table from the
// code of an Error frame (never from message text), plus the few errors the client raises itself
// (connection lost, client closed, task ended badly). Pure: no sockets here.

import { ERRORS, ErrorCode, type ErrorCodeValue, type ErrorName } from "../protocol/errors.ts";
import type { ErrorResponse } from "../protocol/messages.ts";

/** Code carried by errors the client raises itself; no Error frame has it. */
export const CLIENT_ERROR_CODE = 0;

export interface TqErrorOptions {
  field?: string;
  retryAfterMs?: number;
  cause?: unknown;
}

/** Base of every error the SDK throws. `code` is a protocol error code, or 0 for client-side errors. */
export class TqError extends Error {
  readonly code: ErrorCodeValue | typeof CLIENT_ERROR_CODE;
  /** The request field the broker named as wrong, when it named one. */
  readonly field: string | undefined;
  /** For retryable errors: how long to wait before trying again, when the broker hinted. */
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCodeValue | typeof CLIENT_ERROR_CODE, message: string, options: TqErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options.field;
    this.retryAfterMs = options.retryAfterMs;
  }

  // Names come from the table, not constructor.name, so a minifying bundler cannot change them.
  override get name(): string {
    return this.code === CLIENT_ERROR_CODE ? "TqError" : `${ERRORS[this.code].name}Error`;
  }

  /** The same request may succeed if sent again later (see the error table). */
  get retryable(): boolean {
    return this.code === CLIENT_ERROR_CODE ? false : ERRORS[this.code].retryable;
  }
}

/** The broker answered with an Error frame of this code. */
abstract class CodedError extends TqError {
  constructor(code: ErrorCodeValue, message: string, options: TqErrorOptions = {}) {
    super(code, message, options);
  }
}

export class BadFrameError extends CodedError {}
export class FrameTooLargeError extends CodedError {}
export class UnknownMessageTypeError extends CodedError {}
export class InvalidFieldError extends CodedError {}
export class UnsupportedVersionError extends CodedError {}
export class UnauthorizedError extends CodedError {}
export class ForbiddenError extends CodedError {}
export class NotFoundError extends CodedError {}
export class InvalidStateError extends CodedError {}
export class LeaseLostError extends CodedError {}
export class QueueFullError extends CodedError {}
export class TooManyConnectionsError extends CodedError {}
export class StorageUnavailableError extends CodedError {}
export class ShuttingDownError extends CodedError {}
export class ProtectedModeError extends CodedError {}
export class TimeoutError extends CodedError {}
export class OutcomeUnknownError extends CodedError {}
export class InternalError extends CodedError {}

type CodedErrorClass = new (code: ErrorCodeValue, message: string, options?: TqErrorOptions) => TqError;

/** code name -> class. Keyed by ErrorName so adding a code to ERRORS without a class fails to compile. */
export const ERROR_CLASSES: Readonly<Record<ErrorName, CodedErrorClass>> = {
  BadFrame: BadFrameError,
  FrameTooLarge: FrameTooLargeError,
  UnknownMessageType: UnknownMessageTypeError,
  InvalidField: InvalidFieldError,
  UnsupportedVersion: UnsupportedVersionError,
  Unauthorized: UnauthorizedError,
  Forbidden: ForbiddenError,
  NotFound: NotFoundError,
  InvalidState: InvalidStateError,
  LeaseLost: LeaseLostError,
  QueueFull: QueueFullError,
  TooManyConnections: TooManyConnectionsError,
  StorageUnavailable: StorageUnavailableError,
  ShuttingDown: ShuttingDownError,
  ProtectedMode: ProtectedModeError,
  Timeout: TimeoutError,
  OutcomeUnknown: OutcomeUnknownError,
  Internal: InternalError,
};

/** The typed error for a protocol code; a code this build does not know becomes InternalError. */
export function errorForCode(code: number, message: string, options: TqErrorOptions = {}): TqError {
  const known = Object.hasOwn(ERRORS, code);
  const value = known ? (code as ErrorCodeValue) : ErrorCode.Internal;
  const text = known ? message : `unknown error code ${code}: ${message}`;
  return new ERROR_CLASSES[ERRORS[value].name](value, text, options);
}

/** The typed error an Error frame stands for. */
export function errorFromResponse(m: ErrorResponse): TqError {
  return errorForCode(m.code, m.message, {
    ...(m.field === "" ? {} : { field: m.field }),
    ...(m.retryAfterMs === 0 ? {} : { retryAfterMs: m.retryAfterMs }),
  });
}

/**
 * The connection dropped or could not be made. `outcomeUnknown` is true when the request had
 * been sent: the broker may or may not have acted on it, so resending is the caller's decision.
 */
export class ConnectionError extends TqError {
  readonly outcomeUnknown: boolean;

  constructor(message: string, outcomeUnknown: boolean, cause?: unknown) {
    super(CLIENT_ERROR_CODE, message, cause === undefined ? {} : { cause });
    this.outcomeUnknown = outcomeUnknown;
  }

  override get name(): string {
    return "ConnectionError";
  }

  override get retryable(): boolean {
    return true;
  }
}

/** close() was called: requests still waiting are failed with this. */
export class ClientClosedError extends TqError {
  constructor() {
    super(CLIENT_ERROR_CODE, "the client was closed");
  }

  override get name(): string {
    return "ClientClosedError";
  }
}

/** result(): the task ended without a result (dead or cancelled). `task` is its final state. */
export class TaskFailedError<T = unknown> extends TqError {
  readonly task: T;
  readonly status: string;

  constructor(message: string, status: string, task: T) {
    super(CLIENT_ERROR_CODE, message);
    this.status = status;
    this.task = task;
  }

  override get name(): string {
    return "TaskFailedError";
  }
}

/** Thrown by a handler: the task fails with no retry (goes straight to dead). */
export class UnrecoverableError extends Error {
  override get name(): string {
    return "UnrecoverableError";
  }
}
