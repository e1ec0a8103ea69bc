// grpc.health.v1.Health, the probe Kubernetes, Envoy and grpc_health_probe speak: SERVING while
// the broker takes work and its store accepts writes (what /readyz says over HTTP), NOT_SERVING
// once it is stopping or its store is down. Needs no API key, as /healthz does not.

import { Metadata, status as GrpcStatus, type ServerUnaryCall, type ServerWritableStream, type UntypedServiceImplementation, type sendUnaryData } from "@grpc/grpc-js";
import type { Broker } from "../broker/broker.ts";

/** The services a probe may name: "" is the whole server. */
const KNOWN_SERVICES = new Set(["", "tq.v1.Broker"]);
/** A store that does not answer a ping within this long is not serving. */
const PING_TIMEOUT_MS = 2000;

type ServingStatus = "SERVING" | "NOT_SERVING";

export class HealthService {
  private readonly watchers = new Set<ServerWritableStream<unknown, unknown>>();

  constructor(
    private readonly broker: Broker,
    private readonly isStopping: () => boolean,
  ) {}

  /** The broker began to stop: watchers hear NOT_SERVING now. */
  stopping(): void {
    for (const w of this.watchers) w.write({ status: "NOT_SERVING" });
  }

  private async current(): Promise<ServingStatus> {
    if (this.isStopping()) return "NOT_SERVING";
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.broker.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error("store ping timed out")), PING_TIMEOUT_MS);
        }),
      ]);
      return "SERVING";
    } catch {
      return "NOT_SERVING";
    } finally {
      clearTimeout(timer);
    }
  }

  implementation(): UntypedServiceImplementation {
    return {
      Check: (call: ServerUnaryCall<{ service: string }, unknown>, callback: sendUnaryData<unknown>) => {
        if (!KNOWN_SERVICES.has(call.request.service)) {
          const service = call.request.service;
          setImmediate(() => callback({ code: GrpcStatus.NOT_FOUND, details: `unknown service ${JSON.stringify(service)}`, metadata: new Metadata() }));
          return;
        }
        void this.current().then((status) => callback(null, { status }));
      },
      Watch: (call: ServerWritableStream<{ service: string }, unknown>) => {
        if (!KNOWN_SERVICES.has(call.request.service)) {
          call.write({ status: "SERVICE_UNKNOWN" });
          return;
        }
        this.watchers.add(call);
        const forget = (): void => {
          this.watchers.delete(call);
        };
        call.on("cancelled", forget);
        call.on("close", forget);
        void this.current().then((status) => {
          if (this.watchers.has(call)) call.write({ status });
        });
      },
    };
  }
}
