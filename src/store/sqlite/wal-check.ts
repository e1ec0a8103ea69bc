// Reads the WAL file before SQLite does, to tell damage from a torn tail (format:
// https://www.sqlite.org/fileformat2.html#walformat). SQLite replays frames up to the first one
// whose salts or checksum fail and silently ignores everything after it, and ignores the whole file
// when its header fails: committed transactions would vanish without a word. Reads only.

import { closeSync, openSync, readSync, statSync } from "node:fs";

export interface WalDamage {
  /** What is wrong, in words for the log and the refusal. */
  reason: string;
  /** Bytes of the file. */
  bytes: number;
  /** Frames in the file, and those SQLite will replay (up to the last valid commit before the damage). */
  frames: number;
  framesKept: number;
  /** Frame numbers (1-based) from the first one SQLite drops to the last valid commit after the damage. */
  droppedFrom: number;
  droppedTo: number;
  /** Valid commit frames after the damage: transactions that were committed and will be lost (at least). */
  commitsLost: number;
}

const HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;
const MAGIC_LITTLE_ENDIAN = 0x377f0682;
const MAGIC_BIG_ENDIAN = 0x377f0683;
const FORMAT_VERSION = 3007000;

/** SQLite's WAL checksum: pairs of 32-bit words in the byte order the magic names, summed into (s0, s1). */
function checksum(bytes: Uint8Array, from: number, to: number, bigEndian: boolean, start: [number, number]): [number, number] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let [s0, s1] = start;
  const little = !bigEndian;
  for (let i = from; i < to; i += 8) {
    s0 = (s0 + view.getUint32(i, little) + s1) >>> 0;
    s1 = (s1 + view.getUint32(i + 4, little) + s0) >>> 0;
  }
  return [s0, s1];
}

function u32(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at, false);
}

function validPageSize(n: number): boolean {
  return n >= 512 && n <= 65536 && (n & (n - 1)) === 0;
}

/**
 * Damage in the WAL at `walPath`, or null when SQLite will replay everything that was committed
 * (no file, an empty one, all frames valid, or only a torn tail: frames after the last valid
 * commit that no later valid commit follows). `dbPageSize` sizes frames when the header is
 * unreadable (for the figures only).
 */
export function checkWal(walPath: string, dbPageSize = 4096): WalDamage | null {
  let bytes: number;
  try {
    bytes = statSync(walPath).size;
  } catch {
    return null;
  }
  if (bytes < HEADER_BYTES) return null;
  const fd = openSync(walPath, "r");
  try {
    const header = new Uint8Array(HEADER_BYTES);
    readSync(fd, header, 0, HEADER_BYTES, 0);
    const magic = u32(header, 0);
    const bigEndian = magic === MAGIC_BIG_ENDIAN;
    const pageSize = u32(header, 8);
    const [h0, h1] = checksum(header, 0, 24, bigEndian, [0, 0]);
    const headerProblem =
      magic !== MAGIC_LITTLE_ENDIAN && magic !== MAGIC_BIG_ENDIAN
        ? "bad magic number"
        : u32(header, 4) !== FORMAT_VERSION
          ? "unknown format version"
          : !validPageSize(pageSize)
            ? `impossible page size ${pageSize}`
            : h0 !== u32(header, 24) || h1 !== u32(header, 28)
              ? "header checksum mismatch"
              : null;
    if (headerProblem !== null) {
      // SQLite ignores the whole file. Zeros after the header hold nothing; anything else held frames.
      if (allZero(fd, HEADER_BYTES, bytes)) return null;
      const frames = Math.floor((bytes - HEADER_BYTES) / (FRAME_HEADER_BYTES + dbPageSize));
      return {
        reason: `the WAL header is damaged (${headerProblem}) while the file holds ${bytes - HEADER_BYTES} bytes of frames; SQLite would ignore all of them`,
        bytes,
        frames,
        framesKept: 0,
        droppedFrom: 1,
        droppedTo: frames,
        commitsLost: frames > 0 ? 1 : 0,
      };
    }
    return scanFrames(fd, bytes, header, bigEndian, pageSize, [h0, h1]);
  } finally {
    closeSync(fd);
  }
}

function scanFrames(fd: number, bytes: number, header: Uint8Array, bigEndian: boolean, pageSize: number, headerSum: [number, number]): WalDamage | null {
  const frameBytes = FRAME_HEADER_BYTES + pageSize;
  const frames = Math.floor((bytes - HEADER_BYTES) / frameBytes);
  const salt1 = u32(header, 16);
  const salt2 = u32(header, 20);
  const frame = new Uint8Array(frameBytes);
  // The chain SQLite follows (carried on past the damage, as if only a stored sum was hit), and
  // the sums the frame before stored (as if its content was hit).
  let chain: [number, number] = headerSum;
  let previousStored: [number, number] = headerSum;
  let lastKeptCommit = 0;
  let firstBad = 0;
  let lastLaterCommit = 0;
  let commitsLost = 0;
  for (let n = 1; n <= frames; n++) {
    readSync(fd, frame, 0, frameBytes, HEADER_BYTES + (n - 1) * frameBytes);
    const stored: [number, number] = [u32(frame, 16), u32(frame, 20)];
    const isCommit = u32(frame, 4) !== 0;
    const saltsMatch = u32(frame, 8) === salt1 && u32(frame, 12) === salt2;
    const sumFrom = (start: [number, number]): [number, number] => checksum(frame, FRAME_HEADER_BYTES, frameBytes, bigEndian, checksum(frame, 0, 8, bigEndian, start));
    chain = sumFrom(chain);
    if (firstBad === 0) {
      if (saltsMatch && chain[0] === stored[0] && chain[1] === stored[1]) {
        if (isCommit) lastKeptCommit = n;
      } else {
        firstBad = n;
      }
    } else if (saltsMatch && isCommit) {
      // Past the damage SQLite's chain is broken, but an intact frame still checks against the
      // sums its predecessor stored (when that one's content was hit) or against the chain carried
      // through it (when only its stored sums were): a valid commit there is a transaction SQLite drops.
      const own = sumFrom(previousStored);
      const matches = (own[0] === stored[0] && own[1] === stored[1]) || (chain[0] === stored[0] && chain[1] === stored[1]);
      if (matches) {
        lastLaterCommit = n;
        commitsLost++;
      }
    }
    previousStored = stored;
  }
  if (firstBad === 0 || commitsLost === 0) return null;
  return {
    reason: `WAL frame ${firstBad} of ${frames} fails its ${firstBadKind(fd, firstBad, frameBytes, salt1, salt2)}, and ${commitsLost} valid commit${commitsLost === 1 ? "" : "s"} follow${commitsLost === 1 ? "s" : ""} it (up to frame ${lastLaterCommit}); SQLite would stop at frame ${lastKeptCommit}`,
    bytes,
    frames,
    framesKept: lastKeptCommit,
    droppedFrom: lastKeptCommit + 1,
    droppedTo: lastLaterCommit,
    commitsLost,
  };
}

function firstBadKind(fd: number, n: number, frameBytes: number, salt1: number, salt2: number): string {
  const head = new Uint8Array(FRAME_HEADER_BYTES);
  readSync(fd, head, 0, FRAME_HEADER_BYTES, HEADER_BYTES + (n - 1) * frameBytes);
  return u32(head, 8) === salt1 && u32(head, 12) === salt2 ? "checksum" : "salts";
}

/** True when bytes [from, to) of the file are all zero. */
function allZero(fd: number, from: number, to: number): boolean {
  const chunk = new Uint8Array(64 * 1024);
  for (let at = from; at < to; at += chunk.length) {
    const n = readSync(fd, chunk, 0, Math.min(chunk.length, to - at), at);
    for (let i = 0; i < n; i++) if (chunk[i] !== 0) return false;
    if (n === 0) break;
  }
  return true;
}
