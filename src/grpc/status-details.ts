// The rich error model of gRPC (google.rpc.Status in the grpc-status-details-bin trailer) for one
// BrokerError: ErrorInfo (the error table's name and code, the field), RetryInfo (the retry
// hint), BadRequest (the field of an InvalidField). Hand-encoded protobuf: five small messages
// do not justify loading google/rpc/*.proto at start. Pure: bytes in, bytes out.

/** What the details say; `grpcCode` is the status code they travel with. */
export interface ErrorDetailsIn {
  grpcCode: number;
  message: string;
  /** The error table's name and code, e.g. "QueueFull", 11. */
  name: string;
  code: number;
  field: string;
  retryAfterMs: number;
}

export const ERROR_DOMAIN = "tq-broker";
const TYPE_PREFIX = "type.googleapis.com/google.rpc.";

/** A growable protobuf writer: varints and length-delimited fields only, all these messages need. */
class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private static readonly utf8 = new TextEncoder();

  private varint(value: number): void {
    const bytes: number[] = [];
    let v = value;
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
    this.parts.push(Uint8Array.from(bytes));
  }

  /** Field `n` as a varint (wire type 0); proto3 leaves zero out. */
  uint(n: number, value: number): this {
    if (value === 0) return this;
    this.varint((n << 3) | 0);
    this.varint(value);
    return this;
  }

  /** Field `n` as bytes (wire type 2); proto3 leaves empty out unless `always`. */
  bytes(n: number, value: Uint8Array, always = false): this {
    if (value.byteLength === 0 && !always) return this;
    this.varint((n << 3) | 2);
    this.varint(value.byteLength);
    this.parts.push(value);
    return this;
  }

  string(n: number, value: string): this {
    return this.bytes(n, ProtoWriter.utf8.encode(value));
  }

  message(n: number, inner: ProtoWriter): this {
    return this.bytes(n, inner.finish(), true);
  }

  finish(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}

function any(typeName: string, value: ProtoWriter): ProtoWriter {
  return new ProtoWriter().string(1, `${TYPE_PREFIX}${typeName}`).message(2, value);
}

/** google.rpc.Status { code, message, details: [ErrorInfo, RetryInfo?, BadRequest?] } as bytes. */
export function encodeStatusDetails(e: ErrorDetailsIn): Uint8Array {
  // ErrorInfo { reason = 1, domain = 2, metadata = 3 (map<string,string>: entries key = 1, value = 2) }
  const info = new ProtoWriter().string(1, e.name).string(2, ERROR_DOMAIN);
  const metadata: Array<[string, string]> = [["code", String(e.code)]];
  if (e.field !== "") metadata.push(["field", e.field]);
  if (e.retryAfterMs > 0) metadata.push(["retry_after_ms", String(e.retryAfterMs)]);
  for (const [key, value] of metadata) info.message(3, new ProtoWriter().string(1, key).string(2, value));
  const status = new ProtoWriter().uint(1, e.grpcCode).string(2, e.message).message(3, any("ErrorInfo", info));
  if (e.retryAfterMs > 0) {
    // RetryInfo { retry_delay = 1: Duration { seconds = 1, nanos = 2 } }
    const delay = new ProtoWriter().uint(1, Math.floor(e.retryAfterMs / 1000)).uint(2, (e.retryAfterMs % 1000) * 1_000_000);
    status.message(3, any("RetryInfo", new ProtoWriter().message(1, delay)));
  }
  if (e.field !== "" && e.name === "InvalidField") {
    // BadRequest { field_violations = 1: FieldViolation { field = 1, description = 2 } }
    const violation = new ProtoWriter().string(1, e.field).string(2, e.message);
    status.message(3, any("BadRequest", new ProtoWriter().message(1, violation)));
  }
  return status.finish();
}
