// Bearer parsing and the permission check of the REST door, without a server: each role against
// each operation, and the errors for no key, a wrong key and a non-Bearer header.
import { expect, test } from "bun:test";
import { Authenticator, OPERATIONS, ROLES, roleAllows } from "../../../src/broker/auth.ts";
import { authorizeRequest, bearerKey } from "../../../src/http/http-auth.ts";
import { BrokerError } from "../../../src/protocol/errors.ts";

const auth = new Authenticator(true, ROLES.map((role) => ({ name: `${role}-key`, role, key: `${role}-secret-0123456789` })));

function errorOf(fn: () => unknown): BrokerError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BrokerError) return err;
    throw err;
  }
  throw new Error("expected a BrokerError");
}

test("bearerKey reads only Bearer credentials", () => {
  expect(bearerKey("Bearer abc")).toBe("abc");
  expect(bearerKey("bearer  abc ")).toBe("abc");
  expect(bearerKey("Basic abc")).toBe("");
  expect(bearerKey("Bearer a b")).toBe("");
  expect(bearerKey(null)).toBe("");
});

test("each role against each operation follows roleAllows", () => {
  for (const role of ROLES) {
    for (const operation of OPERATIONS) {
      const header = `Bearer ${role}-secret-0123456789`;
      if (roleAllows(role, operation)) {
        expect(authorizeRequest(auth, header, operation)).toEqual({ name: `${role}-key`, role });
      } else {
        const err = errorOf(() => authorizeRequest(auth, header, operation));
        expect(err.name).toBe("Forbidden");
        expect(err.message).toContain(`${role}-key`);
        expect(err.message).toContain(operation);
      }
    }
  }
});

test("no key, a non-Bearer header and a wrong key are Unauthorized without echoing the key", () => {
  expect(errorOf(() => authorizeRequest(auth, null, "submit")).message).toContain("Authorization: Bearer");
  expect(errorOf(() => authorizeRequest(auth, "Token x", "submit")).name).toBe("Unauthorized");
  const wrong = errorOf(() => authorizeRequest(auth, "Bearer guessed-0123456789", "submit"));
  expect(wrong.name).toBe("Unauthorized");
  expect(wrong.message).not.toContain("guessed");
});

test("with auth off everyone is the anonymous admin", () => {
  const off = new Authenticator(false, []);
  expect(authorizeRequest(off, null, "manage").role).toBe("admin");
});
