// The error mapping of the gRPC door: every code of the one error table has a gRPC status, and
// docs/grpc.md's table says exactly what grpc-status.ts does (a user reads the doc, not the code).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { GRPC_STATUS_OF, statusOf } from "../../../src/grpc/grpc-status.ts";
import { BrokerError, ERRORS, ErrorCode, type ErrorCodeValue } from "../../../src/protocol/errors.ts";

const doc = readFileSync(resolve(import.meta.dir, "../../../docs/grpc.md"), "utf8");

describe("error table -> gRPC status", () => {
  test("every error code has a status, and docs/grpc.md's table lists each with that status", () => {
    const rows = doc.slice(doc.indexOf("| Error (code) | gRPC status |")).split("\n").slice(2).filter((l) => l.startsWith("|"));
    const documented = new Map<number, string>();
    for (const row of rows) {
      const [errors, status] = row.split("|").slice(1, 3).map((c) => c.trim());
      for (const m of errors!.matchAll(/\((\d+)\)/g)) documented.set(Number(m[1]), status!);
    }
    for (const code of Object.keys(ERRORS).map(Number) as ErrorCodeValue[]) {
      expect({ error: ERRORS[code].name, status: documented.get(code) }).toEqual({ error: ERRORS[code].name, status: GrpcStatus[GRPC_STATUS_OF[code]] });
    }
  });

  test("a status carries the code, name, field and retry hint as trailers", () => {
    const s = statusOf(new BrokerError(ErrorCode.QueueFull, "queue full", { retryAfterMs: 1500 }));
    expect(s.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(s.metadata!.get("tq-error-code")).toEqual(["11"]);
    expect(s.metadata!.get("tq-error-name")).toEqual(["QueueFull"]);
    expect(s.metadata!.get("tq-retry-after-ms")).toEqual(["1500"]);
    expect(s.metadata!.get("tq-error-field")).toEqual([]);
    const f = statusOf(new BrokerError(ErrorCode.InvalidField, "tasks[2].queue: bad", { field: "tasks[2].queue" }));
    expect(f.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(f.metadata!.get("tq-error-field")).toEqual(["tasks[2].queue"]);
    expect(f.metadata!.get("grpc-status-details-bin")).toHaveLength(1);
  });
});
