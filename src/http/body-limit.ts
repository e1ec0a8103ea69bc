// A request body over the REST API's limit is refused with the API's own error (FrameTooLarge,
// 413, naming the size and the limit), not with Bun's bare 413: Bun's own cap is set far above
// the limit so that the request reaches us, and the limit is enforced here instead. A declared
// Content-Length is judged before a byte of the body is read; a chunked body is read with a count
// and dropped as soon as it passes the limit, so no request makes the broker hold more than the
// limit.

import { BrokerError, ErrorCode } from "../protocol/errors.ts";

/** What Bun itself may take: only a bound for lengths we refuse unread. */
export const BUN_BODY_CAP_BYTES = 2 ** 32;

function tooLarge(what: string, maxBytes: number): BrokerError {
  return new BrokerError(ErrorCode.FrameTooLarge, `request body: ${what}, over the REST API's limit of ${maxBytes} bytes (a 16 MiB payload as base64, plus 1 MiB)`, { field: "body" });
}

/** The request to serve (its body read already when it came chunked), or the error to answer. */
export async function withinBodyLimit(request: Request, maxBytes: number): Promise<Request | BrokerError> {
  if (request.body === null) return request;
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    const length = Number(declared);
    return Number.isFinite(length) && length > maxBytes ? tooLarge(`${length} bytes declared`, maxBytes) : request;
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return tooLarge(`more than ${maxBytes} bytes sent chunked`, maxBytes);
    }
    parts.push(value);
  }
  return new Request(request, { body: Buffer.concat(parts) });
}
