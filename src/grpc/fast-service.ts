// tq.v1.Broker's service definition with the hot paths on hand-written codecs — SubmitBatch
// (submit-codec.ts) and Work (work-codec.ts) — for the broker's server and for clients built
// with grpc.makeGenericClientConstructor. Every other method is proto-loader's, unchanged.

import type { MethodDefinition, PackageDefinition } from "@grpc/proto-loader";
import { submitBatchCodec } from "./submit-codec.ts";
import { fastWorkMethod } from "./work-codec.ts";

/**
 * The service definition, SubmitBatch and Work with the fast functions (each falling back on
 * proto-loader's own), the rest as proto-loader made it.
 */
export function fastBrokerService(definitions: PackageDefinition): Record<string, MethodDefinition<unknown, unknown>> {
  const service = definitions["tq.v1.Broker"] as unknown as Record<string, MethodDefinition<unknown, unknown>>;
  const submitBatch = service.SubmitBatch!;
  const codec = submitBatchCodec(submitBatch);
  return {
    ...service,
    Work: fastWorkMethod(service.Work!),
    SubmitBatch: {
      ...submitBatch,
      requestDeserialize: codec.decodeRequest,
      requestSerialize: codec.encodeRequest,
      responseDeserialize: codec.decodeResponse,
      responseSerialize: codec.encodeResponse,
    },
  };
}
