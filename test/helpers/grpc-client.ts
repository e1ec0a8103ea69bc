// A grpc-js client of a test broker's gRPC port, built from the .proto itself (not from the
// broker's TypeScript): unary calls as promises that reject with the ServiceError, the worker
// stream as a queue of messages to await, and the google.rpc details of an error decoded.

import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { resolve } from "node:path";
import protobuf from "protobufjs";

const PROTO_DIR = resolve(import.meta.dir, "../../proto");

const definitions = loadSync(
  ["tq/v1/broker.proto", "grpc/health/v1/health.proto", "grpc/reflection/v1/reflection.proto", "grpc/reflection/v1alpha/reflection.proto"],
  { includeDirs: [PROTO_DIR], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true },
);
const pkg = grpc.loadPackageDefinition(definitions) as any;

export interface GrpcClientOptions {
  key?: string;
  /** PEM of the CA that signed the server certificate: TLS. */
  ca?: string;
  /** A client certificate and key, for a broker that asks for one. */
  cert?: string;
  certKey?: string;
  /** Per call, from when it is made. */
  deadlineMs?: number;
}

export type Msg = Record<string, any>;

export class GrpcTestClient {
  readonly raw: grpc.Client & Record<string, any>;
  readonly health: grpc.Client & Record<string, any>;
  readonly reflection: grpc.Client & Record<string, any>;

  constructor(
    readonly port: number,
    private readonly options: GrpcClientOptions = {},
  ) {
    const creds = options.ca
      ? grpc.credentials.createSsl(Buffer.from(options.ca), options.certKey ? Buffer.from(options.certKey) : null, options.cert ? Buffer.from(options.cert) : null)
      : grpc.credentials.createInsecure();
    // A connection of its own per client (grpc-js shares one between clients of the same target otherwise).
    const channel = { "grpc.use_local_subchannel_pool": 1, "grpc.ssl_target_name_override": "localhost", "grpc.max_receive_message_length": 17 * 1024 * 1024, "grpc.max_send_message_length": 17 * 1024 * 1024 };
    this.raw = new pkg.tq.v1.Broker(`127.0.0.1:${port}`, creds, channel);
    this.health = new pkg.grpc.health.v1.Health(`127.0.0.1:${port}`, creds, channel);
    this.reflection = new pkg.grpc.reflection.v1.ServerReflection(`127.0.0.1:${port}`, creds, channel);
  }

  metadata(key = this.options.key): grpc.Metadata {
    const md = new grpc.Metadata();
    if (key !== undefined) md.set("authorization", `Bearer ${key}`);
    return md;
  }

  /** One unary call; rejects with the grpc-js ServiceError (code, details, metadata). */
  call(method: string, request: Msg = {}, options: { key?: string; deadlineMs?: number } = {}): Promise<Msg> {
    const deadlineMs = options.deadlineMs ?? this.options.deadlineMs ?? 10_000;
    return new Promise((resolve, reject) => {
      this.raw[method]!(request, this.metadata(options.key ?? this.options.key), { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, reply: Msg) =>
        err ? reject(err) : resolve(reply),
      );
    });
  }

  /** The error a call ends with (fails the test if it succeeds). */
  async error(method: string, request: Msg = {}, options: { key?: string; deadlineMs?: number } = {}): Promise<grpc.ServiceError> {
    try {
      const reply = await this.call(method, request, options);
      throw new Error(`${method} succeeded: ${JSON.stringify(reply)}`);
    } catch (err) {
      if ((err as grpc.ServiceError).code === undefined) throw err;
      return err as grpc.ServiceError;
    }
  }

  /** Opens the worker stream. */
  work(options: { key?: string } = {}): WorkStream {
    return new WorkStream(this.raw.Work(this.metadata(options.key ?? this.options.key)));
  }

  close(): void {
    this.raw.close();
    this.health.close();
    this.reflection.close();
  }
}

/** The worker stream: messages received are queued; next() awaits the next one of a kind. */
export class WorkStream {
  private readonly inbox: Msg[] = [];
  private waiters: (() => void)[] = [];
  status: grpc.StatusObject | null = null;
  error: grpc.ServiceError | null = null;

  constructor(readonly call: grpc.ClientDuplexStream<Msg, Msg>) {
    call.on("data", (m: Msg) => {
      this.inbox.push(m);
      this.wake();
    });
    call.on("status", (s: grpc.StatusObject) => {
      this.status = s;
      this.wake();
    });
    call.on("error", (e: grpc.ServiceError) => {
      this.error = e;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(message: Msg): void {
    this.call.write(message);
  }

  /** The next message whose oneof `kind` is one of `kinds` (others stay queued), within `timeoutMs`. */
  async next(kinds: string | string[], timeoutMs = 5000): Promise<Msg> {
    const wanted = Array.isArray(kinds) ? kinds : [kinds];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.inbox.findIndex((m) => wanted.includes(m.kind));
      if (at >= 0) return this.inbox.splice(at, 1)[0]!;
      if (this.status !== null) throw new Error(`stream ended (${this.status.code} ${this.status.details}) before ${wanted.join("/")}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${wanted.join("/")} within ${timeoutMs} ms; queued: ${JSON.stringify(this.inbox.map((m) => m.kind))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves with the stream's final status. */
  async ended(timeoutMs = 5000): Promise<grpc.StatusObject> {
    const deadline = Date.now() + timeoutMs;
    while (this.status === null) {
      if (Date.now() > deadline) throw new Error(`stream did not end within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.status;
  }
}

/** The google.rpc.Status of an error's grpc-status-details-bin trailer, decoded by the official message shapes. */
export function statusDetails(err: grpc.ServiceError): { code: number; message: string; details: { type: string; value: Msg }[] } {
  const bin = err.metadata.get("grpc-status-details-bin")[0] as Buffer;
  const status = RPC.Status!.toObject(RPC.Status!.decode(bin), { longs: Number, defaults: true }) as { code: number; message: string; details: Msg[] };
  return {
    code: status.code,
    message: status.message,
    details: status.details.map((any: Msg) => {
      const type = String(any.type_url).replace("type.googleapis.com/", "");
      const decoder = RPC[type.replace("google.rpc.", "")];
      return { type, value: decoder ? decoder.toObject(decoder.decode(any.value), { longs: Number }) : {} };
    }),
  };
}

// google/rpc/status.proto and error_details.proto, the messages as published (only those used).
const RPC_PROTO = `
syntax = "proto3";
package google.rpc;
message Any { string type_url = 1; bytes value = 2; }
message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
message Duration { int64 seconds = 1; int32 nanos = 2; }
message RetryInfo { Duration retry_delay = 1; }
message BadRequest { message FieldViolation { string field = 1; string description = 2; } repeated FieldViolation field_violations = 1; }
`;
const rpcRoot = protobuf.parse(RPC_PROTO, { keepCase: true }).root;
const RPC: Record<string, protobuf.Type> = Object.fromEntries(
  ["Status", "ErrorInfo", "RetryInfo", "BadRequest"].map((n) => [n, rpcRoot.lookupType(`google.rpc.${n}`)]),
);
