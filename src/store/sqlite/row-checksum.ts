// Checksums of task rows, so that a row damaged on disk is never served altered. `fixed_crc` covers
// the columns written once at insert, `state_crc` those later writes set. Writers compute both here
// from values the broker knows to be right (the request, the lease, or a row that passed this
// check), never from what is on disk, so a write cannot bless damage. Pure: runs no SQL.

/** Columns written once, at insert (schema migration 3). */
export interface FixedFields {
  id: Uint8Array;
  type: string;
  queue: string;
  payload: Uint8Array;
  priority: number;
  max_retries: number;
  lease_ms: number;
  idempotency_key: string | null;
  created_at: number;
}

/** Columns a status change may write. */
export interface StateFields {
  flags: number;
  status: number;
  run_at: number | null;
  attempts: number;
  worker_id: string | null;
  result: Uint8Array | null;
  error: string | null;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface Checksums {
  fixed_crc: number;
  state_crc: number;
}

/**
 * What a column holds when no checksum was ever computed for the row (the column default): no
 * CRC-32 equals it, so such a row fails the check instead of passing unchecked.
 */
export const NO_CHECKSUM = -1;

// The numbers of a row and the lengths of its strings and blobs, hashed as one block before the
// bytes: the lengths make the concatenation of the variable fields unambiguous. Reused: one row at a time.
const numbers = new Float64Array(16);
const FIXED_BLOCK = new Uint8Array(numbers.buffer, 0, 9 * 8);
const STATE_BLOCK = new Uint8Array(numbers.buffer, 0, 13 * 8);
const ABSENT = -1;
const LEASE_COLUMNS_NULL = 2 | 4;

function lengthOf(value: string | Uint8Array | null): number {
  if (value === null) return ABSENT;
  return typeof value === "string" ? value.length : value.byteLength;
}

// Bun.hash.crc32(data, seed) continues a CRC-32 (zlib's crc32(crc, buf)); strings are hashed as UTF-8.
function more(crc: number, value: string | Uint8Array | null): number {
  return value === null || lengthOf(value) === 0 ? crc : Bun.hash.crc32(value, crc);
}

export function fixedCrc(r: FixedFields): number {
  numbers[0] = r.priority;
  numbers[1] = r.max_retries;
  numbers[2] = r.lease_ms;
  numbers[3] = r.created_at;
  numbers[4] = r.id.byteLength;
  numbers[5] = r.type.length;
  numbers[6] = r.queue.length;
  numbers[7] = r.payload.byteLength;
  numbers[8] = lengthOf(r.idempotency_key);
  let crc = Bun.hash.crc32(FIXED_BLOCK);
  crc = more(crc, r.id);
  crc = more(crc, r.type);
  crc = more(crc, r.queue);
  crc = more(crc, r.payload);
  return more(crc, r.idempotency_key);
}

export function stateCrc(s: StateFields): number {
  // A NULL integer is not 0: the mask says which were NULL. Bits 2 and 4 and numbers 4-5 were the
  // lease columns (dropped by migration 4, NULL in every row since 3): hashed as NULL forever, so
  // a row checksummed before the drop still passes.
  const nulls = (s.run_at === null ? 1 : 0) | LEASE_COLUMNS_NULL | (s.started_at === null ? 8 : 0) | (s.finished_at === null ? 16 : 0);
  numbers[0] = s.flags;
  numbers[1] = s.status;
  numbers[2] = s.run_at ?? 0;
  numbers[3] = s.attempts;
  numbers[4] = 0;
  numbers[5] = 0;
  numbers[6] = s.updated_at;
  numbers[7] = s.started_at ?? 0;
  numbers[8] = s.finished_at ?? 0;
  numbers[9] = nulls;
  numbers[10] = lengthOf(s.worker_id);
  numbers[11] = lengthOf(s.result);
  numbers[12] = lengthOf(s.error);
  let crc = Bun.hash.crc32(STATE_BLOCK);
  crc = more(crc, s.worker_id);
  crc = more(crc, s.result);
  return more(crc, s.error);
}

/** Why a row read from the file fails its checksums, or null when it passes. */
export function rowDamage(row: FixedFields & StateFields & Checksums): string | null {
  let fixed: boolean;
  let state: boolean;
  try {
    fixed = fixedCrc(row) !== row.fixed_crc;
    state = stateCrc(row) !== row.state_crc;
  } catch {
    // Damage can change a value's type (a record header byte), and hashing it then throws.
    return "a field holds a value of the wrong type";
  }
  if (!fixed && !state) return null;
  if (fixed && state) return "its fixed fields (id, type, queue, payload, ...) and its state fields (status, attempts, result, ...) fail their checksums";
  return fixed
    ? "its fixed fields (id, type, queue, payload, priority, max_retries, lease_ms, idempotency_key, created_at) fail their checksum"
    : "its state fields (status, flags, run_at, attempts, worker, result, error, times) fail their checksum";
}

/** The state checksum of `row` after `changes` (a status change of a row that passed the check). */
export function stateCrcAfter(row: StateFields, changes: Partial<StateFields>): number {
  return stateCrc({ ...row, ...changes });
}
