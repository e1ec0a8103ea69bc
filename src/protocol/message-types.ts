// The message-type byte of every frame, with names for logs. Requests are 0x01..0x3F, responses
// 0x80..0xBF, Error is 0xFF: the high bit alone tells a reader which direction a frame goes.
// Pure table: no encoding here (see request-codec.ts / response-codec.ts).

export const RequestType = {
  Hello: 0x01,
  SubmitTask: 0x02,
  SubmitBatch: 0x03,
  ClaimTask: 0x04,
  TaskResult: 0x05,
  Nack: 0x06,
  RenewLease: 0x07,
  Heartbeat: 0x08,
  RegisterWorker: 0x09,
  DeregisterWorker: 0x0a,
  QueryStatus: 0x0b,
  WaitResult: 0x0c,
  CancelTask: 0x0d,
  RetryTask: 0x0e,
  ListTasks: 0x0f,
  GetStats: 0x10,
  ListWorkers: 0x11,
  Ping: 0x12,
  TaskResultBatch: 0x13,
  EnableNotices: 0x14,
  Subscribe: 0x15,
  Unsubscribe: 0x16,
} as const;

export const ResponseType = {
  Ack: 0x80,
  HelloOk: 0x81,
  Submitted: 0x82,
  SubmittedBatch: 0x83,
  Claimed: 0x84,
  FailOutcome: 0x85,
  Renewed: 0x86,
  HeartbeatOk: 0x87,
  Registered: 0x88,
  TaskInfo: 0x89,
  TaskList: 0x8a,
  Stats: 0x8b,
  Workers: 0x8c,
  Pong: 0x8d,
  ResultBatchOutcome: 0x8e,
  /** Not an answer: pushed to a worker that asked for notices (EnableNotices). */
  TaskCancelled: 0x8f,
  /** Not an answer: tasks pushed to a subscription (Subscribe) while it has credits. */
  Delivery: 0x90,
  Error: 0xff,
} as const;

export type RequestKind = keyof typeof RequestType;
export type ResponseKind = keyof typeof ResponseType;
export type RequestTypeByte = (typeof RequestType)[RequestKind];
export type ResponseTypeByte = (typeof ResponseType)[ResponseKind];

/** Every type byte, requests and responses in one table (names are unique across both). */
export const MessageType = { ...RequestType, ...ResponseType } as const;
export type MessageKind = keyof typeof MessageType;

function invert<K extends string>(table: Record<K, number>): (K | undefined)[] {
  const byByte: (K | undefined)[] = new Array(256).fill(undefined);
  for (const name of Object.keys(table) as K[]) byByte[table[name]] = name;
  return byByte;
}

const REQUEST_KIND_BY_BYTE = invert<RequestKind>(RequestType);
const RESPONSE_KIND_BY_BYTE = invert<ResponseKind>(ResponseType);

/** The request kind for a type byte, or undefined when the byte is not a request type. */
export function requestKindOf(type: number): RequestKind | undefined {
  return REQUEST_KIND_BY_BYTE[type & 0xff];
}

/** The response kind for a type byte, or undefined when the byte is not a response type. */
export function responseKindOf(type: number): ResponseKind | undefined {
  return RESPONSE_KIND_BY_BYTE[type & 0xff];
}

/** A name for logs: the message name, or "0x4a (unknown)". */
export function messageTypeName(type: number): string {
  return requestKindOf(type) ?? responseKindOf(type) ?? `0x${(type & 0xff).toString(16).padStart(2, "0")} (unknown)`;
}
