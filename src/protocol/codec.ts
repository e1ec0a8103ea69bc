// The codec in one import, for code outside the broker that speaks the protocol (the bench
// agents, src/bench/wire-conn.ts): frames in and out, message types and tables, error frames.
// Re-exports only; net/ and client/ import the files they need directly.

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
