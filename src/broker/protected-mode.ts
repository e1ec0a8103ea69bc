// Protected mode, as Redis has it: with auth off and a listener bound beyond loopback, only
// loopback clients are served. A pure decision of (bind host, remote address, auth on) so it can
// be tested for any address; the server only applies it.

import { isLoopback } from "./auth.ts";
import { BrokerError, ErrorCode } from "../protocol/errors.ts";

export interface ProtectedModeInput {
  /** The host the listener is bound to, e.g. "0.0.0.0", "::", "127.0.0.1". */
  bindHost: string;
  /** The client's address; null when the runtime cannot tell (then the client is refused). */
  remoteAddress: string | null;
  authEnabled: boolean;
}

/** True when the listener itself runs in protected mode (auth off, bound beyond loopback). */
export function isProtectedListener(bindHost: string, authEnabled: boolean): boolean {
  return !authEnabled && !isLoopback(bindHost);
}

/** True when this client must be refused. */
export function protectedModeRefuses(input: ProtectedModeInput): boolean {
  if (!isProtectedListener(input.bindHost, input.authEnabled)) return false;
  return input.remoteAddress === null || !isLoopback(input.remoteAddress);
}

export function protectedModeError(bindHost: string): BrokerError {
  return new BrokerError(
    ErrorCode.ProtectedMode,
    `protected mode: auth is off (auth.enabled: false) and the broker listens on ${bindHost}, so only loopback clients are served. ` +
      "Enable auth (auth.enabled: true with at least one entry in auth.api_keys) and send the key (Hello on TCP, " +
      "Authorization: Bearer <key> on HTTP), or bind broker.host to 127.0.0.1 and reach it through a tunnel or proxy.",
  );
}
