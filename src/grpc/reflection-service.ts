// Server reflection (grpc.reflection.v1 and v1alpha, the same messages under two names), so that
// `grpcurl -plaintext localhost:9090 list` and `describe` work without the .proto at hand. Serves
// the descriptors of the embedded files, each under its path in proto/. Needs no API key: the
// schema is public (it is in the repository); calls still go through the connection's limits.

import type { PackageDefinition } from "@grpc/proto-loader";
import { status as GrpcStatus, type ServerDuplexStream, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { PROTO_PACKAGES } from "./proto-files.ts";

interface FileEntry {
  name: string;
  pkg: string;
  descriptor: Buffer;
}

interface ReflectionRequest {
  host: string;
  message_request?: "file_by_filename" | "file_containing_symbol" | "file_containing_extension" | "all_extension_numbers_of_type" | "list_services";
  file_by_filename?: string;
  file_containing_symbol?: string;
  all_extension_numbers_of_type?: string;
}

/** Reads a varint at `at`: [value, next offset]. */
function varint(buf: Uint8Array, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < buf.length; i++) {
    value += (buf[i]! & 0x7f) * scale;
    if ((buf[i]! & 0x80) === 0) return [value, i + 1];
    scale *= 128;
  }
  throw new Error("truncated varint in a file descriptor");
}

/** The string fields 1 (name) and 2 (package) of a FileDescriptorProto, with where the name field lies. */
function nameAndPackage(buf: Uint8Array): { name: string; pkg: string; nameSpan: [number, number] | null } {
  let at = 0;
  let name = "";
  let pkg = "";
  let nameSpan: [number, number] | null = null;
  while (at < buf.length) {
    const start = at;
    const [tag, afterTag] = varint(buf, at);
    const wire = tag & 7;
    if (wire !== 2) break; // fields 1 and 2 come first; a FileDescriptorProto's early fields are strings
    const [len, afterLen] = varint(buf, afterTag);
    at = afterLen + len;
    const text = Buffer.from(buf.subarray(afterLen, at)).toString("utf8");
    if (tag >> 3 === 1) {
      name = text;
      nameSpan = [start, at];
    } else if (tag >> 3 === 2) pkg = text;
    else break;
  }
  return { name, pkg, nameSpan };
}

/** The descriptor renamed to `name` (protobufjs names files after their package). */
function renamed(buf: Buffer, span: [number, number] | null, name: string): Buffer {
  const text = Buffer.from(name, "utf8");
  const head = Buffer.from([0x0a, ...lengthBytes(text.length)]);
  const rest = span === null ? buf : Buffer.concat([buf.subarray(0, span[0]), buf.subarray(span[1])]);
  return Buffer.concat([head, text, rest]);
}

function lengthBytes(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

export class Reflection {
  private readonly files: FileEntry[];
  readonly services: string[];

  constructor(definitions: PackageDefinition) {
    this.services = Object.keys(definitions).filter((k) => !("format" in (definitions[k] as object)));
    const anyType = Object.values(definitions).find((d) => "fileDescriptorProtos" in (d as object)) as { fileDescriptorProtos: Buffer[] } | undefined;
    const byPackage = new Map(Object.entries(PROTO_PACKAGES).map(([file, pkg]) => [pkg, file]));
    this.files = (anyType?.fileDescriptorProtos ?? []).map((buf) => {
      const { pkg, nameSpan } = nameAndPackage(buf);
      const name = byPackage.get(pkg) ?? `${pkg}.proto`;
      return { name, pkg, descriptor: renamed(buf, nameSpan, name) };
    });
  }

  /** One answer per request, as the reflection protocol has it (errors inside the response). */
  answer(req: ReflectionRequest): Record<string, unknown> {
    const base = { valid_host: req.host, original_request: req };
    const notFound = (what: string): Record<string, unknown> => ({ ...base, error_response: { error_code: GrpcStatus.NOT_FOUND, error_message: `${what} not found` } });
    switch (req.message_request) {
      case "list_services":
        return { ...base, list_services_response: { service: this.services.map((name) => ({ name })) } };
      case "file_by_filename": {
        const file = this.files.find((f) => f.name === req.file_by_filename);
        return file ? { ...base, file_descriptor_response: { file_descriptor_proto: [file.descriptor] } } : notFound(`file ${JSON.stringify(req.file_by_filename)}`);
      }
      case "file_containing_symbol": {
        const file = this.fileOf(req.file_containing_symbol ?? "");
        return file ? { ...base, file_descriptor_response: { file_descriptor_proto: [file.descriptor] } } : notFound(`symbol ${JSON.stringify(req.file_containing_symbol)}`);
      }
      case "all_extension_numbers_of_type": {
        const type = req.all_extension_numbers_of_type ?? "";
        return this.fileOf(type) ? { ...base, all_extension_numbers_response: { base_type_name: type, extension_number: [] } } : notFound(`type ${JSON.stringify(type)}`);
      }
      default:
        // No file here declares extensions.
        return notFound("extension");
    }
  }

  /** The file whose package holds `symbol` (a package, service, method, message or enum name). */
  private fileOf(symbol: string): FileEntry | undefined {
    const name = symbol.startsWith(".") ? symbol.slice(1) : symbol;
    return this.files.filter((f) => name === f.pkg || name.startsWith(`${f.pkg}.`)).sort((a, b) => b.pkg.length - a.pkg.length)[0];
  }

  /** The ServerReflectionInfo handler: one response per request, until the client half-closes. */
  implementation(): UntypedServiceImplementation {
    return {
      ServerReflectionInfo: (call: ServerDuplexStream<ReflectionRequest, Record<string, unknown>>) => {
        call.on("data", (req: ReflectionRequest) => call.write(this.answer(req)));
        call.on("end", () => call.end());
        call.on("error", () => call.end());
      },
    };
  }
}
