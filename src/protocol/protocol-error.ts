// The error a decoder throws: a BrokerError (InvalidField, UnknownMessageType, BadFrame,
// FrameTooLarge) that also carries the request id when it could be read, so the server can echo
// it in the Error frame. Constructors only; no decoding here.

import { BrokerError, ErrorCode, type BrokerErrorOptions, type ErrorCodeValue } from "./errors.ts";

export class ProtocolError extends BrokerError {
  /** The request id of the offending message, or null when the body was too short to hold one. */
  requestId: number | null;

  constructor(code: ErrorCodeValue, message: string, requestId: number | null, options: BrokerErrorOptions = {}) {
    super(code, message, options);
    this.requestId = requestId;
  }
}

export function invalidField(field: string, message: string, requestId: number | null = null): ProtocolError {
  return new ProtocolError(ErrorCode.InvalidField, `${field}: ${message}`, requestId, { field });
}
