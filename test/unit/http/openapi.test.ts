// The OpenAPI document built from the route table, without a server: one operation per route,
// unique operation ids, path parameters for every {name}, error responses from the error table.
import { expect, test } from "bun:test";
import { buildOpenApi } from "../../../src/http/openapi.ts";
import { HTTP_ROUTES } from "../../../src/http/routes.ts";

const doc = buildOpenApi(HTTP_ROUTES, { version: "1.2.3" }) as any;

test("one operation per route, nothing more", () => {
  const ops = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item as object).map((m) => `${m.toUpperCase()} ${path}`));
  expect(ops.sort()).toEqual(HTTP_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  expect(doc.info.version).toBe("1.2.3");
});

test("operation ids are unique and every {name} is a documented path parameter", () => {
  const ids = HTTP_ROUTES.map((r) => r.operationId);
  expect(new Set(ids).size).toBe(ids.length);
  for (const route of HTTP_ROUTES) {
    const op = doc.paths[route.path][route.method.toLowerCase()];
    const names = [...route.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]);
    const documented = (op.parameters ?? []).filter((p: any) => p.in === "path");
    expect(documented.map((p: any) => p.name)).toEqual(names);
    for (const p of documented) expect(p.description.length).toBeGreaterThan(0);
  }
});

test("protected routes document 401/403 and their permission; open routes opt out of security", () => {
  for (const route of HTTP_ROUTES) {
    const op = doc.paths[route.path][route.method.toLowerCase()];
    if (route.operation === null) {
      expect(op.security).toEqual([]);
    } else {
      expect(op.responses).toHaveProperty("401");
      expect(op.responses).toHaveProperty("403");
      expect(op["x-tq-operation"]).toBe(route.operation);
    }
    expect(op.responses).toHaveProperty("500");
  }
  expect(doc.paths["/api/v1/tasks/{id}"].delete.responses).toHaveProperty("409");
});
