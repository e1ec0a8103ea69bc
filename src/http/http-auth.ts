// Who is calling and may they: reads `Authorization: Bearer KEY`, asks the shared Authenticator,
// then the shared authorize() (the same check as the TCP door). Never logs or echoes the key.

import { ANONYMOUS_ADMIN, authorize, type Authenticator, type Operation, type Principal } from "../broker/auth.ts";
import { BrokerError, ErrorCode } from "../protocol/errors.ts";

/** The key from an Authorization header, "" when none or not a Bearer credential. */
export function bearerKey(header: string | null): string {
  if (header === null) return "";
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1] ?? "";
}

/**
 * The principal allowed to run `operation`, or a BrokerError: Unauthorized (no or unknown key),
 * Forbidden (the key's role does not allow it: authorize's error, as on TCP). With auth off
 * everyone is an anonymous admin.
 */
export function authorizeRequest(auth: Authenticator, header: string | null, operation: Operation): Principal {
  if (!auth.enabled) return ANONYMOUS_ADMIN;
  const key = bearerKey(header);
  if (key === "") {
    const hint = header === null ? "send Authorization: Bearer <key>" : "the Authorization header is not of the form \"Bearer <key>\"";
    throw new BrokerError(ErrorCode.Unauthorized, `an API key is required (auth.enabled is true): ${hint}`, { field: "authorization" });
  }
  const principal = auth.authenticate(key);
  if (!principal) throw new BrokerError(ErrorCode.Unauthorized, "the API key is not valid", { field: "authorization" });
  const refused = authorize(principal, operation);
  if (refused !== null) throw refused;
  return principal;
}
