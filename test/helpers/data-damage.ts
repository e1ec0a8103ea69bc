// Damages a broker's files the way a failing disk would (issue 19.4): flips bytes in tq.db or its
// WAL, empties the database, and runs the real `tq-broker serve` on the result to see whether it
// refuses (exit 65) or starts. Touches only the temp data dirs the tests give it.

import { closeSync, cpSync, mkdtempSync, openSync, readFileSync, readSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TaskInfo } from "../../src/protocol/messages.ts";
import { launchBroker, reap, type LaunchOptions } from "../chaos/lib/broker-proc.ts";
import { RawConn } from "./raw-conn.ts";

export const DB_FILE = "tq.db";
export const WAL_FILE = "tq.db-wal";
/** WAL header and frame header sizes (sqlite.org/fileformat2.html#walformat). */
export const WAL_HEADER_BYTES = 32;
export const WAL_FRAME_HEADER_BYTES = 24;

/** XORs `mask` into the byte at `offset` of `file`. */
export function flipByte(file: string, offset: number, mask = 0x01): void {
  const fd = openSync(file, "r+");
  try {
    const b = new Uint8Array(1);
    readSync(fd, b, 0, 1, offset);
    b[0]! ^= mask;
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

/** Offset of the first occurrence of `text` in `file` (throws when absent). */
export function offsetOf(file: string, text: string): number {
  const at = readFileSync(file).indexOf(Buffer.from(text));
  if (at < 0) throw new Error(`${JSON.stringify(text)} is not in ${file}`);
  return at;
}

/** The WAL's page size (header bytes 8-11) and how many whole frames it holds. */
export function walFrames(file: string): { pageSize: number; frames: number } {
  const header = readFileSync(file).subarray(0, WAL_HEADER_BYTES);
  const pageSize = header.readUInt32BE(8);
  return { pageSize, frames: Math.floor((statSync(file).size - WAL_HEADER_BYTES) / (WAL_FRAME_HEADER_BYTES + pageSize)) };
}

/** Offset of byte `at` inside the page data of WAL frame `n` (1-based). */
export function walFrameDataOffset(file: string, n: number, at = 100): number {
  const { pageSize } = walFrames(file);
  return WAL_HEADER_BYTES + (n - 1) * (WAL_FRAME_HEADER_BYTES + pageSize) + WAL_FRAME_HEADER_BYTES + at;
}

/** A copy of a data dir, to damage without touching the original. */
export function copyDataDir(dataDir: string): string {
  const copy = mkdtempSync(join(tmpdir(), "tq-damaged-"));
  cpSync(dataDir, copy, { recursive: true });
  return copy;
}

export interface StartOutcome {
  exitCode: number | null;
  output: string;
  /** Set when the broker started: every task it serves, by id (it is stopped again before returning). */
  tasks: Map<string, TaskInfo> | null;
}

/**
 * Starts `tq-broker serve` on `dataDir`: either it exits (refused), or it listens, its tasks are
 * read with ListTasks, and it is stopped with SIGTERM.
 */
export async function startAndRead(dataDir: string, options: Omit<LaunchOptions, "dataDir"> = {}): Promise<StartOutcome> {
  const broker = launchBroker({ dataDir, ...options });
  try {
    const port = await Promise.race([broker.listening(20_000), broker.exited.then(() => null)]);
    if (port === null) return { exitCode: await broker.exited, output: broker.output(), tasks: null };
    const conn = await RawConn.connect(port);
    const tasks = await listAll(conn);
    conn.close();
    broker.proc.kill("SIGTERM");
    return { exitCode: await broker.exited, output: broker.output(), tasks };
  } finally {
    await reap(broker);
  }
}

/** Every task the broker serves, by id (ListTasks pages). */
export async function listAll(conn: RawConn): Promise<Map<string, TaskInfo>> {
  const all = new Map<string, TaskInfo>();
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const r = await conn.call({ kind: "ListTasks", limit: 1000, ...(cursor === undefined ? {} : { cursor }) }, 20_000);
    if (r.kind !== "TaskList") throw new Error(`ListTasks answered ${JSON.stringify(r)}`);
    for (const t of r.tasks) all.set(t.id, t);
    if (r.nextCursor === null) return all;
    cursor = r.nextCursor;
  }
  throw new Error("ListTasks did not end");
}

/** A task as text, every field, for comparing what two starts serve. */
export function taskText(t: TaskInfo): string {
  return JSON.stringify(t, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));
}
