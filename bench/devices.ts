// Interleaved A/B of the broker's three speed devices against the plain structure each replaces
// (STYLE.md: a device stays only with a gain beyond the noise): SlotMap vs Map for the leases,
// TallyHistogram vs prom-client's Histogram for the per-task processing time, and WalBacklog (the
// -shm header read after commits) vs what SQLite's own API offers for the same question
// (PRAGMA wal_checkpoint(PASSIVE), which answers it by checkpointing). Plain then device, pair
// after pair in one process; prints each pair's ns per operation and the median ratio.
// Usage: bun bench/devices.ts [--pairs 10]

import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Histogram, Registry } from "prom-client";
import { SlotMap } from "../src/store/sqlite/slot-map.ts";
import { WalBacklog } from "../src/store/sqlite/wal-backlog.ts";
import { TallyHistogram } from "../src/tally-histogram.ts";

const pairsArg = process.argv.indexOf("--pairs");
const PAIRS = pairsArg > 0 ? Number(process.argv[pairsArg + 1]) : 10;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * Runs plain and device alternately PAIRS times (after one untimed round each) and prints ns/op.
 * Each round returns the milliseconds it spent in what is compared (work around it is not timed).
 */
function ab(name: string, ops: number, plain: () => number, device: () => number): void {
  plain();
  device();
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < PAIRS; i++) {
    a.push((plain() * 1e6) / ops);
    b.push((device() * 1e6) / ops);
  }
  const ratios = a.map((x, i) => b[i]! / x);
  const sorted = [...ratios].sort((x, y) => x - y);
  console.log(
    `${name}: plain ${median(a).toFixed(1)} ns/op, device ${median(b).toFixed(1)} ns/op, device/plain median ${median(ratios).toFixed(3)} (range ${sorted[0]!.toFixed(2)}-${sorted[sorted.length - 1]!.toFixed(2)}, ${PAIRS} pairs)`,
  );
}

/** Times `f` alone. */
function timed(f: () => void): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

// ---- leases: a claim of 100 adds 100 leases with consecutive serials and nearly consecutive
// seqs, looks each up once (its completion) and removes it; between batches other work (SQLite
// statements, frames) has pushed the maps out of the caches, as a 32 MiB sweep does here.
interface Lease {
  serial: number;
  seq: number;
}
const BATCHES = 200;
const PER_BATCH = 100;
const sweep = new Uint8Array(32 * 1024 * 1024);
let sink = 0;
function flushCaches(): void {
  for (let i = 0; i < sweep.length; i += 64) sink += sweep[i]!++;
}
function leaseRounds(bySerial: { set(k: number, v: Lease): void; get(k: number): Lease | undefined; delete(k: number): boolean }, bySeq: typeof bySerial): () => number {
  let serial = 1;
  let seq = 1;
  const live: Lease[] = [];
  return () => {
    let ms = 0;
    for (let b = 0; b < BATCHES; b++) {
      ms += timed(() => {
        for (let i = 0; i < PER_BATCH; i++) {
          const lease = { serial: serial++, seq: (seq += 1 + (i % 7 === 0 ? 1 : 0)) };
          bySerial.set(lease.serial, lease);
          bySeq.set(lease.seq, lease);
          live.push(lease);
        }
      });
      flushCaches();
      ms += timed(() => {
        for (const lease of live) {
          if (bySerial.get(lease.serial) !== lease) throw new Error("lost a lease");
          bySerial.delete(lease.serial);
          bySeq.delete(lease.seq);
        }
        live.length = 0;
      });
      flushCaches();
    }
    return ms;
  };
}
const timedLeaseOps = BATCHES * PER_BATCH;
ab(
  "leases (set x2, get, delete x2 per lease; caches flushed between batches)",
  timedLeaseOps,
  leaseRounds(new Map(), new Map()),
  leaseRounds(new SlotMap<Lease>((l) => l.serial), new SlotMap<Lease>((l) => l.seq)),
);

// ---- processing time: one observation per completed task, label = its queue.
const OBSERVATIONS = 200_000;
const buckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];
const plainHistogram = new Histogram({ name: "plain_seconds", help: "h", labelNames: ["queue"], buckets, registers: [new Registry()] });
const tally = new TallyHistogram({ name: "tally_seconds", help: "h", labelName: "queue", buckets, registers: [new Registry()] });
const queueTally = tally.tally("default");
ab(
  "processing-time histogram (one observation per task)",
  OBSERVATIONS,
  () =>
    timed(() => {
      for (let i = 0; i < OBSERVATIONS; i++) plainHistogram.observe({ queue: "default" }, (i % 1000) / 1000);
    }),
  () =>
    timed(() => {
      for (let i = 0; i < OBSERVATIONS; i++) tally.record(queueTally, (i % 1000) / 1000);
    }),
);

// ---- WAL backlog after a commit: how many WAL frames no checkpoint has copied yet.
const dir = mkdtempSync(join(tmpdir(), "tq-devices-"));
try {
  const db = new Database(join(dir, "wal.db"), { create: true });
  db.exec("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x BLOB)");
  const insert = db.prepare("INSERT INTO t VALUES (?)");
  const backlog = new WalBacklog(join(dir, "wal.db-shm"));
  const COMMITS = 2000;
  const row = new Uint8Array(200);
  let plainFrames = 0;
  let deviceFrames = 0;
  ab(
    "WAL backlog after each commit (PRAGMA wal_checkpoint(PASSIVE) vs reading the -shm header)",
    COMMITS,
    () => {
      let ms = 0;
      for (let i = 0; i < COMMITS; i++) {
        insert.run(row);
        ms += timed(() => {
          const [, log, done] = db.query("PRAGMA wal_checkpoint(PASSIVE)").values()[0] as number[];
          plainFrames += log! - done!;
        });
      }
      return ms;
    },
    () => {
      let ms = 0;
      for (let i = 0; i < COMMITS; i++) {
        insert.run(row);
        ms += timed(() => {
          deviceFrames += backlog.uncopiedBytes() ?? 0;
        });
      }
      return ms;
    },
  );
  backlog.close();
  db.close();
  console.log(`  (the PRAGMA answers by checkpointing: it copied every frame as it asked, so it always saw ${plainFrames} uncopied; the device only reads, and saw ${deviceFrames} bytes in all)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (sink === -1) console.log(sink);
