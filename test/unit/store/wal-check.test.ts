// The WAL read before SQLite (wal-check.ts, issue 19.4): damage that would make SQLite drop
// committed transactions is found; what SQLite is meant to drop (a torn tail, stale frames of an
// older WAL generation) is not called damage. WAL files written by SQLite itself, in temp dirs.

import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkWal } from "../../../src/store/sqlite/wal-check.ts";
import { flipByte, walFrameDataOffset, walFrames, WAL_FRAME_HEADER_BYTES, WAL_HEADER_BYTES } from "../../helpers/data-damage.ts";

const dir = mkdtempSync(join(tmpdir(), "tq-walcheck-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let copies = 0;

/** A WAL holding `transactions` commits (no checkpoint), copied while the database is open, as a crash leaves it. */
function crashWal(transactions: number): string {
  const path = join(dir, `db-${copies++}.db`);
  const db = new Database(path, { create: true });
  db.exec("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x BLOB)");
  for (let i = 0; i < transactions; i++) db.query("INSERT INTO t VALUES (randomblob(3000))").run();
  const wal = join(dir, `crash-${copies++}.wal`);
  copyFileSync(`${path}-wal`, wal);
  db.close();
  return wal;
}

function frameOffset(wal: string, n: number): number {
  return WAL_HEADER_BYTES + (n - 1) * (WAL_FRAME_HEADER_BYTES + walFrames(wal).pageSize);
}

test("an intact WAL, a missing one and an empty one are not damage", () => {
  const wal = crashWal(20);
  expect(walFrames(wal).frames).toBeGreaterThan(20);
  expect(checkWal(wal)).toBeNull();
  expect(checkWal(join(dir, "absent.wal"))).toBeNull();
  writeFileSync(join(dir, "empty.wal"), "");
  expect(checkWal(join(dir, "empty.wal"))).toBeNull();
});

test("a torn tail is not damage: the last frame cut short, or damaged (it cannot be told from a torn write)", () => {
  const cut = crashWal(20);
  truncateSync(cut, statSync(cut).size - 1000);
  expect(checkWal(cut)).toBeNull();
  const last = crashWal(20);
  flipByte(last, walFrameDataOffset(last, walFrames(last).frames));
  expect(checkWal(last)).toBeNull();
});

test("frames of an older WAL generation (other salts) after the valid ones are not damage", () => {
  const wal = crashWal(20);
  // As after a WAL restart: a new header (salt-1 + 1) over the first frames of the old generation.
  const { frames } = walFrames(wal);
  const fresh = crashWal(3);
  const bytes = readFileSync(wal);
  const head = readFileSync(fresh);
  head.copy(bytes, 0, 0, frameOffset(fresh, walFrames(fresh).frames + 1));
  writeFileSync(wal, bytes);
  expect(walFrames(wal).frames).toBe(frames);
  expect(checkWal(wal)).toBeNull();
});

test("a damaged header, or a damaged frame followed by valid commits, is damage: what SQLite would drop is named", () => {
  const header = crashWal(20);
  flipByte(header, 20);
  expect(checkWal(header)).toMatchObject({ reason: expect.stringContaining("the WAL header is damaged (header checksum mismatch)"), framesKept: 0 });

  const magic = crashWal(20);
  flipByte(magic, 0);
  expect(checkWal(magic)?.reason).toContain("bad magic number");

  const middle = crashWal(20);
  const { frames } = walFrames(middle);
  flipByte(middle, walFrameDataOffset(middle, 10));
  const found = checkWal(middle)!;
  expect(found.reason).toMatch(/^WAL frame 10 of \d+ fails its checksum, and \d+ valid commits follow it/);
  expect(found.framesKept).toBeLessThan(10);
  expect(found.droppedTo).toBe(frames);
  expect(found.commitsLost).toBeGreaterThan(5);

  // Only the frame's stored checksum hit: its content is intact, and the chain carried through it finds the commits after.
  const sums = crashWal(20);
  flipByte(sums, frameOffset(sums, 10) + 17);
  expect(checkWal(sums)?.reason).toMatch(/^WAL frame 10 of \d+ fails its checksum/);

  const salts = crashWal(20);
  flipByte(salts, frameOffset(salts, 10) + 9);
  expect(checkWal(salts)?.reason).toMatch(/^WAL frame 10 of \d+ fails its salts/);
});
