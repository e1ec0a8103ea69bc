// The codec's public surface in one import for net/ and client/: frames in and out, message
// types and tables, error conversion. Re-exports only; each piece lives in its own file.

export { FrameDecoder, type Frame } from "./frame-decoder.ts";
export { FrameWriter, encodeRequest, encodeResponse } from "./frame-writer.ts";
export { decodeRequest, writeRequestBody } from "./request-codec.ts";
export { decodeResponse, writeResponseBody } from "./response-codec.ts";
export { ProtocolError } from "./protocol-error.ts";
export { errorResponse, brokerErrorFrom } from "./error-response.ts";
export { DEFAULT_QUEUE } from "./task-codecs.ts";
export * from "./message-types.ts";
export * from "./wire-values.ts";
export type * from "./messages.ts";
