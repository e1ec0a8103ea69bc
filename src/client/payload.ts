// How task payloads and results travel: a Uint8Array as raw bytes, anything else as JSON text
// with the JSON flag set; and back. Pure functions, shared by the Client and the Worker.

import { ErrorCode } from "../protocol/errors.ts";
import { InvalidFieldError } from "./tq-error.ts";

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

export interface EncodedValue {
  bytes: Uint8Array;
  isJson: boolean;
}

/** Bytes stay bytes; everything else is JSON (undefined becomes null, so a handler always gets a value). */
export function encodeValue(field: string, value: unknown): EncodedValue {
  if (value instanceof Uint8Array) return { bytes: value, isJson: false };
  let text: string | undefined;
  try {
    text = JSON.stringify(value === undefined ? null : value);
  } catch (err) {
    throw new InvalidFieldError(ErrorCode.InvalidField, `${field}: cannot be sent as JSON (${err instanceof Error ? err.message : String(err)})`, {
      field,
      cause: err,
    });
  }
  if (text === undefined) throw new InvalidFieldError(ErrorCode.InvalidField, `${field}: a ${typeof value} cannot be sent as JSON`, { field });
  return { bytes: utf8Encoder.encode(text), isJson: true };
}

/** JSON-flagged bytes parsed; raw bytes returned as they are (also JSON that does not parse, rather than throwing on read). */
export function decodeValue(bytes: Uint8Array, isJson: boolean): unknown {
  if (!isJson) return bytes;
  try {
    return JSON.parse(utf8Decoder.decode(bytes));
  } catch {
    return bytes;
  }
}
