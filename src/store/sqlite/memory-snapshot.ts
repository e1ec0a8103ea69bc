// The memory snapshot, `<db>-memory`: the ready index and finished counts as a clean stop left
// them, so that the next start after that clean stop need not read every row to rebuild them
// (load-memory.ts's loadFromTable, 0.5-0.8 s of CPU for a million rows). Taken by close() from
// memory once the last group committed, checked there against the file's own indexes (count and
// checksum of the pending seqs, finished rows per status: a snapshot that disagrees is not
// written), and written just before the clean-stop record, bound to the file stamp that record
// holds. Taken (read, then removed) at every open; used only when the record held (the file is
// byte for byte what that stop left), the snapshot names the same stamp and database and its
// checksums pass; otherwise the store reads the table as before. Reads and writes only this file
// (and reads the database's indexes); the store decides when.

import type { Database } from "bun:sqlite";
import { closeSync, fstatSync, openSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import type { FileStamp } from "./clean-stop.ts";
import { loadFromTable, loadWaiting } from "./load-memory.ts";
import type { FinishedStatus, MemoryState } from "./memory-state.ts";
import type { Statements } from "./statements.ts";
import { ringCapacityFor } from "./ready-index.ts";
import { STATUS } from "./task-row.ts";

const FORMAT = 1;
/**
 * The seq checksum is the sum of the seqs modulo 2^32: `>>> 0` in JS (integer ops: a tenth of
 * the time of a double `%` per seq), `& 4294967295` in SQLite, whose int64 sum of 32-bit terms
 * overflows only past 2^31 rows (an error: no snapshot).
 */
const LOW_32 = 4_294_967_295;
const FINISHED: readonly [FinishedStatus, number][] = [
  ["completed", STATUS.completed],
  ["dead", STATUS.dead],
  ["cancelled", STATUS.cancelled],
];

/**
 * With a snapshot, scheduled and failed rows are still read from the table at open, one index
 * seek each (~2.5 us against ~0.5 us per row for reading the whole table): past this share of the
 * table's rows no snapshot is written, and the next start reads the whole table.
 */
const MAX_WAITING_SHARE = 1 / 8;

/** Where the open filled memory from (SqliteStore.memoryFrom). */
export interface MemoryFrom {
  /** "checked rows": the scan that checked every row before serving filled it. */
  source: "snapshot" | "table" | "checked rows";
  /** Why a start after a clean stop did not use the snapshot; null when it did, or had no record. */
  snapshotUnused: string | null;
}

export function memorySnapshotPath(dbPath: string): string {
  return `${dbPath}-memory`;
}

/** One ready level of one queue, in seq order (the order claims take it after the restart). */
interface Level {
  queue: string;
  priority: number;
  seqs: Float64Array;
  readyAt: Float64Array;
}

/** What close() captured, before it is written. */
export interface CapturedMemory {
  levels: Level[];
  /** Finished rows per queue: [queue, completed, dead, cancelled]. */
  finished: [string, number, number, number][];
  /** Ready entries, and the checksum of their seqs (tallyFile's). */
  pending: number;
  seqSum: number;
}

interface Header {
  format: number;
  dbId: number;
  file: FileStamp;
  /** [queue, priority, entries] per level, in body order. */
  levels: [string, number, number][];
  finished: [string, number, number, number][];
  pending: number;
  seqSum: number;
  bodyCrc: number;
}

/** A snapshot read back and found whole (its checksums pass). */
export interface MemorySnapshot {
  header: Header;
  /**
   * Per header level, its seqs and ready times, each read straight into an array of the length
   * its ring will have (the ready index keeps them: no second copy of a million entries).
   */
  levels: { seqs: Float64Array; readyAt: Float64Array }[];
}

/**
 * The ready index (every live entry, and every leased task: a restart voids its lease, so it is
 * ready again, at the time `leaseReadyAt` gives — the row's updated_at, as a read of the table
 * would — or left out when that is null) and the finished counts. Each level in seq order, the
 * order a read of the table gives: memory's order is that already but for entries pushed again
 * (hand-backs, retries, expired leases) and the leases, which are merged in (O(n + k log k)).
 */
export function captureMemory(mem: MemoryState, leaseReadyAt: (seq: number) => number | null): CapturedMemory {
  const leases = new Map<string, { seq: number; at: number }[]>();
  for (const lease of mem.leasesBySeq.values()) {
    const at = leaseReadyAt(lease.seq);
    if (at === null) continue;
    const key = `${lease.priority}\u0000${lease.queue}`;
    const list = leases.get(key) ?? [];
    list.push({ seq: lease.seq, at });
    leases.set(key, list);
  }
  const levels: Level[] = [];
  mem.ready.forEachLevel((queue, priority, seqs, readyAt) => {
    const key = `${priority}\u0000${queue}`;
    levels.push({ queue, priority, ...inSeqOrder(seqs, readyAt, leases.get(key) ?? []) });
    leases.delete(key);
  });
  // Leased tasks of levels that hold nothing else.
  for (const [key, list] of leases) {
    const cut = key.indexOf("\u0000");
    levels.push({ queue: key.slice(cut + 1), priority: Number(key.slice(0, cut)), ...inSeqOrder(new Float64Array(0), new Float64Array(0), list) });
  }
  let pending = 0;
  let seqSum = 0;
  for (const level of levels) {
    pending += level.seqs.length;
    // An indexed loop: for-of over a typed array costs several times more here.
    const seqs = level.seqs;
    for (let i = 0; i < seqs.length; i++) seqSum = (seqSum + (seqs[i]! >>> 0)) >>> 0;
  }
  const finished: [string, number, number, number][] = [];
  for (const queue of mem.finished.queueNames()) {
    const f = mem.finished.of(queue);
    finished.push([queue, f.completed, f.dead, f.cancelled]);
  }
  return { levels, finished, pending, seqSum };
}

/**
 * The entries and `extra` sorted by seq: the longest increasing run memory's order already has is
 * kept as it is, the rest (few: entries pushed again, leases) sorted and merged into it.
 */
function inSeqOrder(seqs: Float64Array, readyAt: Float64Array, extra: { seq: number; at: number }[]): { seqs: Float64Array; readyAt: Float64Array } {
  const n = seqs.length + extra.length;
  const outSeqs = new Float64Array(n);
  const outAt = new Float64Array(n);
  const rest = [...extra];
  let run = 0;
  for (let i = 0; i < seqs.length; i++) {
    if (run === 0 || seqs[i]! > outSeqs[run - 1]!) {
      outSeqs[run] = seqs[i]!;
      outAt[run++] = readyAt[i]!;
    } else rest.push({ seq: seqs[i]!, at: readyAt[i]! });
  }
  if (rest.length === 0) return { seqs: outSeqs, readyAt: outAt };
  rest.sort((a, b) => a.seq - b.seq);
  // Merged from the back, in place: the run sits at the start of the output.
  let i = run - 1;
  let j = rest.length - 1;
  for (let k = n - 1; k >= 0; k--) {
    if (j < 0 || (i >= 0 && outSeqs[i]! > rest[j]!.seq)) {
      outSeqs[k] = outSeqs[i]!;
      outAt[k] = outAt[i--]!;
    } else {
      outSeqs[k] = rest[j]!.seq;
      outAt[k] = rest[j--]!.at;
    }
  }
  return { seqs: outSeqs, readyAt: outAt };
}

/**
 * Writes the snapshot for the database file as `file` stamps it (temp file, then rename). Not
 * synced: a snapshot a power loss cut short fails its checksums, and the start reads the table.
 */
export function writeMemorySnapshot(dbPath: string, dbId: number, file: FileStamp, captured: CapturedMemory): void {
  const parts: Uint8Array[] = [];
  let bodyCrc = 0;
  for (const level of captured.levels) {
    for (const array of [level.seqs, level.readyAt]) {
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      bodyCrc = Bun.hash.crc32(bytes, bodyCrc);
      parts.push(bytes);
    }
  }
  const header: Header = {
    format: FORMAT,
    dbId,
    file,
    levels: captured.levels.map((l) => [l.queue, l.priority, l.seqs.length]),
    finished: captured.finished,
    pending: captured.pending,
    seqSum: captured.seqSum,
    bodyCrc,
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  // [header length u32][header crc u32][header][padding to 8][body: per level its seqs, then its ready times]
  const head = new Uint8Array(align8(8 + headerBytes.length));
  const view = new DataView(head.buffer);
  view.setUint32(0, headerBytes.length, true);
  view.setUint32(4, Bun.hash.crc32(headerBytes), true);
  head.set(headerBytes, 8);
  const path = memorySnapshotPath(dbPath);
  const temp = `${path}.tmp`;
  try {
    const fd = openSync(temp, "w", 0o644);
    try {
      for (const part of [head, ...parts]) {
        for (let done = 0; done < part.byteLength; ) done += writeSync(fd, part, done, part.byteLength - done);
      }
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    // A full disk, say: no half-written file is left behind.
    try {
      unlinkSync(temp);
    } catch {
      // Not there.
    }
    throw err;
  }
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/**
 * Reads the snapshot and removes it: whatever this run does, the next start finds none but the
 * one its own stop writes. Null when there is none, or it is not whole (checksums, format, sizes).
 */
export function takeMemorySnapshot(dbPath: string): MemorySnapshot | null {
  const path = memorySnapshotPath(dbPath);
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return null;
  }
  try {
    try {
      unlinkSync(path);
    } catch {
      // One that cannot be removed could outlive the file it describes: not used.
      return null;
    }
    return readSnapshot(fd);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

function readSnapshot(fd: number): MemorySnapshot | null {
  const size = fstatSync(fd).size;
  const read = (into: Uint8Array, at: number): boolean => readSync(fd, into, 0, into.byteLength, at) === into.byteLength;
  const head = new Uint8Array(8);
  if (!read(head, 0)) return null;
  const view = new DataView(head.buffer);
  const headerLength = view.getUint32(0, true);
  if (8 + headerLength > size) return null;
  const headerBytes = new Uint8Array(headerLength);
  if (!read(headerBytes, 8) || Bun.hash.crc32(headerBytes) !== view.getUint32(4, true)) return null;
  const header = JSON.parse(new TextDecoder().decode(headerBytes)) as Header;
  if (header.format !== FORMAT) return null;
  let at = align8(8 + headerLength);
  if (size - at !== header.pending * 16) return null;
  let entries = 0;
  for (const [, , n] of header.levels) entries += n;
  if (entries !== header.pending) return null;
  const levels: MemorySnapshot["levels"] = [];
  let crc = 0;
  for (const [, , n] of header.levels) {
    const level = { seqs: new Float64Array(ringCapacityFor(n)), readyAt: new Float64Array(ringCapacityFor(n)) };
    for (const array of [level.seqs, level.readyAt]) {
      const bytes = new Uint8Array(array.buffer, 0, n * 8);
      if (!read(bytes, at)) return null;
      crc = Bun.hash.crc32(bytes, crc);
      at += n * 8;
    }
    levels.push(level);
  }
  return crc === header.bodyCrc ? { header, levels } : null;
}

/** True when the snapshot was written for this database, as `file` stamps it. */
export function snapshotFits(snapshot: MemorySnapshot, dbId: number, file: FileStamp): boolean {
  const s = snapshot.header.file;
  return snapshot.header.dbId === dbId && s.dev === file.dev && s.ino === file.ino && s.size === file.size && s.mtimeNs === file.mtimeNs && s.ctimeNs === file.ctimeNs;
}

/** What the file's indexes say memory must hold, to compare with a snapshot. */
export interface FileTally {
  pending: number;
  seqSum: number;
  /** Scheduled and failed rows (read from the table by their index, not from the snapshot). */
  waiting: number;
  finished: Record<FinishedStatus, number>;
}

/** Counts from the indexes alone (covering scans of tasks_open_status_seq and tasks_finished). */
/**
 * The tally's statements: covering scans of tasks_open_status_seq (its condition repeated, so
 * that SQLite uses the partial index) and tasks_finished, never of the table.
 */
export const TALLY_SQL = {
  pending: `SELECT count(*), coalesce(sum(seq & ${LOW_32}) & ${LOW_32}, 0) FROM tasks WHERE status = ${STATUS.pending} AND status <> ${STATUS.completed}`,
  waiting: `SELECT count(*) FROM tasks WHERE status IN (${STATUS.scheduled}, ${STATUS.failed}) AND status <> ${STATUS.completed}`,
  finished: "SELECT status, count(*) FROM tasks WHERE finished_at IS NOT NULL GROUP BY status",
} as const;

export function tallyFile(db: Database): FileTally {
  const [pending, seqSum] = db.query(TALLY_SQL.pending).values()[0] as [number, number];
  const [waiting] = db.query(TALLY_SQL.waiting).values()[0] as [number];
  const tally: FileTally = { pending, seqSum, waiting, finished: { completed: 0, dead: 0, cancelled: 0 } };
  const done = db.query(TALLY_SQL.finished).values() as [number, number][];
  for (const [status, n] of done) {
    const name = FINISHED.find(([, code]) => code === status)?.[0];
    if (name !== undefined) tally.finished[name] = n;
  }
  return tally;
}

/** Why the captured memory does not describe the file as its indexes count it; null when it does. */
export function memoryDiffers(h: CapturedMemory, tally: FileTally): string | null {
  if (h.pending !== tally.pending || h.seqSum !== tally.seqSum) return `pending rows: the snapshot holds ${h.pending}, the file ${tally.pending} (or other seqs)`;
  const totals: Record<FinishedStatus, number> = { completed: 0, dead: 0, cancelled: 0 };
  for (const [, completed, dead, cancelled] of h.finished) {
    totals.completed += completed;
    totals.dead += dead;
    totals.cancelled += cancelled;
  }
  for (const [name] of FINISHED) {
    if (totals[name] !== tally.finished[name]) return `${name} rows: the snapshot counts ${totals[name]}, the file ${tally.finished[name]}`;
  }
  return null;
}

/** Fills the ready index and finished counts of `mem` (cleared first) from the snapshot. */
export function applyMemorySnapshot(snapshot: MemorySnapshot, mem: MemoryState): void {
  mem.clear();
  const { header, levels } = snapshot;
  header.levels.forEach(([queue, priority, n], i) => {
    const { seqs, readyAt } = levels[i]!;
    mem.ready.pushAll(queue, priority, seqs.subarray(0, n), readyAt.subarray(0, n), { seqs, readyAt });
  });
  for (const [queue, completed, dead, cancelled] of header.finished) {
    if (completed > 0) mem.finished.add(queue, "completed", completed);
    if (dead > 0) mem.finished.add(queue, "dead", dead);
    if (cancelled > 0) mem.finished.add(queue, "cancelled", cancelled);
  }
}

export interface CleanStartMemory {
  path: string;
  stmts: Statements;
  mem: MemoryState;
  dbId: number | null;
  /** The file as the clean stop's record stamps it. */
  file: FileStamp | null;
  snapshot: MemorySnapshot | null;
  /** in_progress rows of an earlier build this open put back to pending (they are not in a snapshot). */
  requeued: number;
}

/**
 * Memory at a start after a clean stop: the snapshot that stop wrote when it is for this file,
 * else every row's columns (loadFromTable).
 */
export function memoryAfterCleanStop(o: CleanStartMemory): MemoryFrom {
  let unused = "no snapshot, or not whole (its checksums failed)";
  if (o.snapshot !== null && o.file !== null && o.dbId !== null) {
    if (o.requeued > 0) unused = "rows of an earlier build were re-queued at this open";
    else if (snapshotFits(o.snapshot, o.dbId, o.file)) {
      applyMemorySnapshot(o.snapshot, o.mem);
      loadWaiting(o.stmts, o.mem);
      return { source: "snapshot", snapshotUnused: null };
    } else unused = "the snapshot is for another file or database";
  }
  loadFromTable(o.path, o.mem);
  return { source: "table", snapshotUnused: unused };
}

/**
 * At a clean stop, after the last commit: memory as a snapshot, checked against the file's
 * indexes; or why none is written.
 */
export function snapshotAtStop(db: Database, stmts: Statements, mem: MemoryState): { captured: CapturedMemory } | { unused: string } {
  const captured = captureMemory(mem, (seq) => {
    const row = stmts.bySeq.get(seq);
    return row !== null && row.status === STATUS.pending ? row.updated_at : null;
  });
  const tally = tallyFile(db);
  const differs = memoryDiffers(captured, tally);
  if (differs !== null) return { unused: differs };
  const rows = tally.pending + tally.waiting + tally.finished.completed + tally.finished.dead + tally.finished.cancelled;
  if (tally.waiting > rows * MAX_WAITING_SHARE) return { unused: "scheduled and failed rows are too many to read one by one at the start" };
  return { captured };
}
