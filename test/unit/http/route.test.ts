// The route matcher: templates, percent-decoding, wrong methods (with the allowed list), HEAD as
// GET, and a duplicate route refused when the table is built.
import { expect, test } from "bun:test";
import { HTTP_ROUTES } from "../../../src/http/routes.ts";
import { Router, routeLabel, type Route } from "../../../src/http/route.ts";

const router = new Router(HTTP_ROUTES);

test("a template segment matches one path segment and is percent-decoded", () => {
  const m = router.match("POST", "/api/v1/queues/a%3Ab/pause");
  expect(m.kind).toBe("found");
  if (m.kind !== "found") return;
  expect(m.route.operationId).toBe("pauseQueue");
  expect(m.params).toEqual({ name: "a:b" });
  expect(router.match("POST", "/api/v1/queues/a/b/pause").kind).toBe("none");
});

test("literal routes and templated routes on one path are told apart by method and depth", () => {
  const get = router.match("GET", "/api/v1/tasks/0190a5a0-0000-7000-8000-00000000abcd");
  const del = router.match("DELETE", "/api/v1/tasks/0190a5a0-0000-7000-8000-00000000abcd");
  const result = router.match("GET", "/api/v1/tasks/x/result");
  expect(get.kind === "found" && get.route.operationId).toBe("getTask");
  expect(del.kind === "found" && del.route.operationId).toBe("cancelTask");
  expect(result.kind === "found" && result.route.operationId).toBe("waitTaskResult");
});

test("a known path with another method lists the allowed ones; HEAD is served as GET", () => {
  expect(router.match("PUT", "/api/v1/tasks")).toEqual({ kind: "wrong_method", allowed: ["POST", "GET"] });
  expect(router.match("HEAD", "/healthz").kind).toBe("found");
  expect(router.match("GET", "/nothing/here")).toEqual({ kind: "none" });
});

test("a malformed escape is kept as sent, for the handler to reject by name", () => {
  const m = router.match("GET", "/api/v1/tasks/%E0%A4%A");
  expect(m.kind === "found" && m.params.id).toBe("%E0%A4%A");
});

test("a route listed twice is refused when the table is built", () => {
  const route = HTTP_ROUTES[0]!;
  expect(() => new Router([route, { ...route } as Route])).toThrow("listed twice");
});

test("labels are route templates", () => {
  expect(HTTP_ROUTES.map(routeLabel)).toContain("GET /api/v1/tasks/{id}");
});
