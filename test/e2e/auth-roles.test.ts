// The role matrix through both front doors of one broker: for every role and every operation, the
// TCP verbs and the REST routes that need it are all allowed or all refused, as the roles table
// says, and a refusal is the same Forbidden, word for word, through either door.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { OPERATIONS, ROLES, roleAllows, type Operation, type Role } from "../../src/broker/auth.ts";
import { HTTP_ROUTES } from "../../src/http/routes.ts";
import { ROUTES as TCP_ROUTES } from "../../src/net/dispatch.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import type { Request } from "../../src/protocol/messages.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawConn, type RequestInput } from "../helpers/raw-conn.ts";
import { expectKind } from "../helpers/wire.ts";
import { REQUEST_SAMPLES, TASK_ID } from "../unit/protocol/sample-messages.ts";

const KEY: Record<Role, string> = {
  admin: "roles-admin-key-0123456789",
  producer: "roles-producer-key-0123456789",
  worker: "roles-worker-key-0123456789",
};

let broker: TestBroker;

beforeAll(async () => {
  broker = await startBroker({
    "auth.enabled": true,
    "auth.api_keys": ROLES.map((role) => ({ name: `${role}-key`, role, key: KEY[role] })),
  });
});

afterAll(async () => {
  await broker.stop();
});

/** "allowed", or the refusal as `<code> <message>`: what a door answered to one request. */
type Outcome = string;

/** A sample of a TCP verb made harmless to run: no waiting, a worker id of its own per role. */
function tcpRequest(kind: Request["kind"], role: Role): RequestInput {
  const sample = { ...(REQUEST_SAMPLES[kind][0] as Request) } as Record<string, unknown>;
  delete sample.requestId;
  if ("waitMs" in sample) sample.waitMs = 0;
  if ("workerId" in sample) sample.workerId = `roles-${role}`;
  return sample as RequestInput;
}

async function tcpOutcomes(role: Role): Promise<Map<Operation, Set<Outcome>>> {
  const conn = await RawConn.connect(broker.port);
  try {
    expectKind(await conn.call({ kind: "Hello", version: 1, apiKey: KEY[role], clientName: "roles" }), "HelloOk");
    const out = new Map<Operation, Set<Outcome>>();
    for (const [kind, route] of Object.entries(TCP_ROUTES)) {
      if (route.operation === null) continue;
      const reply = await conn.call(tcpRequest(kind as Request["kind"], role));
      const refused = reply.kind === "Error" && (reply.code === ErrorCode.Forbidden || reply.code === ErrorCode.Unauthorized);
      const seen = out.get(route.operation) ?? new Set<Outcome>();
      seen.add(refused ? `${reply.code} ${reply.message}` : "allowed");
      out.set(route.operation, seen);
    }
    return out;
  } finally {
    conn.close();
  }
}

async function httpOutcomes(role: Role): Promise<Map<Operation, Set<Outcome>>> {
  const out = new Map<Operation, Set<Outcome>>();
  for (const route of HTTP_ROUTES) {
    if (route.operation === null) continue;
    const path = route.path.replace("{id}", TASK_ID).replace("{name}", "roles-q");
    const res = await fetch(`http://127.0.0.1:${broker.httpPort}${path}`, {
      method: route.method,
      headers: { authorization: `Bearer ${KEY[role]}`, "content-type": "application/json" },
      // Any body: the permission is checked before the body is read.
      ...(route.method === "POST" ? { body: "{}" } : {}),
    });
    // An allowed event stream never ends: its status is enough.
    const stream = res.headers.get("content-type")?.includes("text/event-stream") ?? false;
    if (stream) await res.body?.cancel();
    const body = (stream ? {} : await res.json()) as { error?: { code: number; message: string } };
    const refused = res.status === 401 || res.status === 403;
    const seen = out.get(route.operation) ?? new Set<Outcome>();
    seen.add(refused ? `${body.error?.code} ${body.error?.message}` : "allowed");
    out.set(route.operation, seen);
  }
  return out;
}

test("every role is allowed and refused the same operations through TCP and HTTP, with the same Forbidden", async () => {
  const bothDoors: Operation[] = [];
  for (const role of ROLES) {
    const tcp = await tcpOutcomes(role);
    const http = await httpOutcomes(role);
    for (const operation of OPERATIONS) {
      const expected = roleAllows(role, operation) ? "allowed" : `${ErrorCode.Forbidden} the key "${role}-key" has role ${role}, which may not ${operation}`;
      for (const [door, outcomes] of [["tcp", tcp], ["http", http]] as const) {
        const seen = outcomes.get(operation);
        if (seen === undefined) continue;
        expect({ role, operation, door, outcomes: [...seen] }).toEqual({ role, operation, door, outcomes: [expected] });
      }
      if (role === "admin" && tcp.has(operation) && http.has(operation)) bothDoors.push(operation);
    }
  }
  // Most operations have a door each way; the matrix above compared them all.
  expect(bothDoors.sort()).toEqual(["cancel", "list", "result", "retry", "stats", "status", "submit", "workers"]);
});
