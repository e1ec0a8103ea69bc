// Errors of the one error table (protocol/errors.ts) as gRPC statuses: the status code each maps
// to, and the trailers that carry the table's code, name, field and retry hint (plain, and as
// google.rpc details). Nothing here decides an error; it only spells the broker's.

import { Metadata, status as GrpcStatus, type StatusObject } from "@grpc/grpc-js";
import { ERRORS, ErrorCode, type ErrorCodeValue, type BrokerError } from "../protocol/errors.ts";
import { encodeStatusDetails } from "./status-details.ts";

/**
 * The gRPC status of each error. Retryable conditions a client should simply retry later are
 * UNAVAILABLE (what gRPC retry policies retry); QueueFull is RESOURCE_EXHAUSTED, a quota, with its
 * hint in the details; a stale lease and a task in the wrong state are FAILED_PRECONDITION (do not
 * retry as is). docs/grpc.md shows this table; a test holds the two together.
 */
export const GRPC_STATUS_OF: Readonly<Record<ErrorCodeValue, GrpcStatus>> = {
  [ErrorCode.BadFrame]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.FrameTooLarge]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.UnknownMessageType]: GrpcStatus.UNIMPLEMENTED,
  [ErrorCode.InvalidField]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.UnsupportedVersion]: GrpcStatus.UNIMPLEMENTED,
  [ErrorCode.Unauthorized]: GrpcStatus.UNAUTHENTICATED,
  [ErrorCode.Forbidden]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.NotFound]: GrpcStatus.NOT_FOUND,
  [ErrorCode.InvalidState]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.LeaseLost]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.QueueFull]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.TooManyConnections]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.StorageUnavailable]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.ShuttingDown]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.ProtectedMode]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.Timeout]: GrpcStatus.DEADLINE_EXCEEDED,
  // Committed but maybe not durable: not safe to retry blindly, unlike UNAVAILABLE.
  [ErrorCode.OutcomeUnknown]: GrpcStatus.UNKNOWN,
  [ErrorCode.Internal]: GrpcStatus.INTERNAL,
};

/** Status code names as gRPC spells them ("RESOURCE_EXHAUSTED"), for metrics and docs. */
export function grpcStatusName(code: number): string {
  return GrpcStatus[code] ?? "UNKNOWN";
}

/** Trailers naming the error, readable without decoding protobuf (grpcurl prints them). */
export const ERROR_TRAILERS = { code: "tq-error-code", name: "tq-error-name", field: "tq-error-field", retryAfterMs: "tq-retry-after-ms" } as const;

/** The status a call ends with for `err`: code, message, and the error's facts in the trailers. */
export function statusOf(err: BrokerError): Partial<StatusObject> & { code: GrpcStatus; details: string } {
  const code = GRPC_STATUS_OF[err.code] ?? GrpcStatus.INTERNAL;
  const name = ERRORS[err.code]?.name ?? "Internal";
  const field = err.field ?? "";
  const retryAfterMs = err.retryAfterMs ?? 0;
  const metadata = new Metadata();
  metadata.set(ERROR_TRAILERS.code, String(err.code));
  metadata.set(ERROR_TRAILERS.name, name);
  if (field !== "") metadata.set(ERROR_TRAILERS.field, field);
  if (retryAfterMs > 0) metadata.set(ERROR_TRAILERS.retryAfterMs, String(retryAfterMs));
  metadata.set(
    "grpc-status-details-bin",
    Buffer.from(encodeStatusDetails({ grpcCode: code, message: err.message, name, code: err.code, field, retryAfterMs })),
  );
  return { code, details: err.message, metadata };
}
