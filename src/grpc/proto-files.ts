// The .proto files the gRPC listener serves, embedded in the executable (an import `with { type:
// "file" }` puts each file inside the compiled binary; under `bun run` it is the file in proto/),
// loaded once into one package definition. proto/ is the contract; nothing here restates it.

import { loadSync, type PackageDefinition, type Options } from "@grpc/proto-loader";
import brokerProto from "../../proto/tq/v1/broker.proto" with { type: "file" };
import healthProto from "../../proto/grpc/health/v1/health.proto" with { type: "file" };
import reflectionV1Proto from "../../proto/grpc/reflection/v1/reflection.proto" with { type: "file" };
import reflectionV1AlphaProto from "../../proto/grpc/reflection/v1alpha/reflection.proto" with { type: "file" };

/**
 * How messages look in JavaScript: field names as the .proto spells them (snake_case), 64-bit
 * integers as numbers (every time and count the broker sends is below 2^53), enums by name,
 * absent scalars as their zero value, and which member of each oneof is set.
 */
export const LOADER_OPTIONS: Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

/** The files, by the path each has under proto/ (what reflection calls them). */
export const PROTO_FILES = {
  "tq/v1/broker.proto": brokerProto,
  "grpc/health/v1/health.proto": healthProto,
  "grpc/reflection/v1/reflection.proto": reflectionV1Proto,
  "grpc/reflection/v1alpha/reflection.proto": reflectionV1AlphaProto,
} as const;

/** The package each file declares: reflection finds a symbol's file by it (no file imports another). */
export const PROTO_PACKAGES: Readonly<Record<keyof typeof PROTO_FILES, string>> = {
  "tq/v1/broker.proto": "tq.v1",
  "grpc/health/v1/health.proto": "grpc.health.v1",
  "grpc/reflection/v1/reflection.proto": "grpc.reflection.v1",
  "grpc/reflection/v1alpha/reflection.proto": "grpc.reflection.v1alpha",
};

let loaded: PackageDefinition | null = null;

/** Parsed once per process (about 20 ms), on the first listener's start. */
export function protoDefinitions(): PackageDefinition {
  loaded ??= loadSync(Object.values(PROTO_FILES), LOADER_OPTIONS);
  return loaded;
}
