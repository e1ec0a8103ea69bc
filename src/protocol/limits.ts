// Every limit of the protocol and the task model on one page, each with its unit and reason.
// Pure constants: the codec, the broker, the HTTP API and the client all read them from here.

/** Bytes in the frame header: 4-byte big-endian length, then the 1-byte message type. */
export const FRAME_HEADER_BYTES = 5;
/** Largest frame, counted as the length field counts it (type byte + payload): 16 MiB. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Protocol version spoken by this build; Hello negotiates it. */
export const PROTOCOL_VERSION = 1;

/** Task payload bytes: leaves room for the other fields inside one frame. */
export const MAX_PAYLOAD_BYTES = MAX_FRAME_BYTES - 64 * 1024;
/** Result bytes stored on a completed task. */
export const MAX_RESULT_BYTES = MAX_PAYLOAD_BYTES;
/**
 * Bytes of task data (payloads, results, errors) one reply may carry: a batch claim or a list
 * page stops adding tasks before this, so its frame stays under MAX_FRAME_BYTES. Each task also
 * costs up to REPLY_BYTES_PER_TASK of fixed fields and names.
 */
export const MAX_REPLY_TASK_BYTES = MAX_FRAME_BYTES - 256 * 1024;
export const REPLY_BYTES_PER_TASK = 1024;
/**
 * Bytes of payload + result + error one stored task may hold: a frame less room for the fixed
 * fields (under 1 KiB), so every stored task fits one TaskInfo reply and a ListTasks page of one.
 * Checked when a result is reported (refused over it); an error message is cut to fit.
 */
export const MAX_TASK_DATA_BYTES = MAX_FRAME_BYTES - 16 * 1024;
/** UTF-8 bytes of an error message stored on a failed task (longer ones are truncated). */
export const MAX_ERROR_BYTES = 64 * 1024;
/**
 * Nesting of a payload marked JSON (arrays and objects inside one another). JSON.stringify in Bun
 * overflows its stack somewhere between 10,000 and 50,000 levels, and common consumers fail far
 * sooner (Python's json at ~1,000, serde_json at 128 by default); real payloads stay under a few
 * dozen. A deeper one is refused at submit on both front doors (InvalidField "payload"), and one
 * stored by an older build is shown over REST as bytes (payload_base64), never parsed.
 */
export const MAX_JSON_DEPTH = 512;
/** UTF-8 bytes of a task type name. */
export const MAX_TYPE_BYTES = 255;
/** UTF-8 bytes of a queue name; names match QUEUE_NAME_PATTERN. */
export const MAX_QUEUE_BYTES = 128;
export const QUEUE_NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
/** UTF-8 bytes of an idempotency key. */
export const MAX_IDEMPOTENCY_KEY_BYTES = 255;
/** UTF-8 bytes of a worker id. */
export const MAX_WORKER_ID_BYTES = 128;
/** Tasks in one batch submit (also bounded by the frame size). */
export const MAX_BATCH_SUBMIT = 10_000;
/**
 * Results in one TaskResultBatch (also bounded by the frame size): ten times the largest batch
 * claim a worker is likely to run at once, small enough that one batch's group commit stays short.
 */
export const MAX_RESULT_BATCH = 1000;
/** Longest a blocking claim may wait, in ms (the client re-issues it after). */
export const MAX_CLAIM_WAIT_MS = 5 * 60 * 1000;
/** Retries one task may ask for. */
export const MAX_RETRIES_LIMIT = 1000;
/** Shortest and longest lease a task may ask for, in ms. */
export const MIN_LEASE_MS = 100;
export const MAX_LEASE_MS = 24 * 60 * 60 * 1000;

/** Priority range and the tiers of the original spec: higher runs first. */
export const MIN_PRIORITY = 0;
export const MAX_PRIORITY = 255;
export const PRIORITY_TIERS = {
  high: { min: 200, max: 255, default: 255 },
  normal: { min: 100, max: 199, default: 150 },
  low: { min: 0, max: 99, default: 50 },
} as const;
export type PriorityTier = keyof typeof PRIORITY_TIERS;
export const DEFAULT_PRIORITY = PRIORITY_TIERS.normal.default;

export function tierOf(priority: number): PriorityTier {
  if (priority >= PRIORITY_TIERS.high.min) return "high";
  if (priority >= PRIORITY_TIERS.normal.min) return "normal";
  return "low";
}

/** EnableNotices bits: frames the broker may push unasked on a connection that set them. */
export const NOTICE = {
  /** TaskCancelled: a task a worker of this connection runs was cancelled. */
  taskCancelled: 0x01,
} as const;
export const KNOWN_NOTICES = 0x01;

/**
 * Credits one subscription may hold (Subscribe.credits): the most tasks delivered through it and
 * not yet ended at once. A worker's prefetch; more would let one connection hoard a queue.
 */
export const MAX_SUBSCRIBE_CREDITS = 10_000;
/** Subscriptions one connection may hold at once (one per queue set it serves). */
export const MAX_SUBSCRIPTIONS = 16;

/** Tasks in one ListTasks page: bounds the reply frame and the store query. */
export const MAX_LIST_LIMIT = 1000;
/** Queues one claim may name: the ready index checks each one per claim. */
export const MAX_CLAIM_QUEUES = 100;
/** Labels one worker may register, each key and value at most MAX_LABEL_BYTES of UTF-8. */
export const MAX_WORKER_LABELS = 64;
export const MAX_LABEL_BYTES = 255;
/** UTF-8 bytes of a short wire string (u16 length prefix). */
export const MAX_STR_BYTES = 0xffff;
