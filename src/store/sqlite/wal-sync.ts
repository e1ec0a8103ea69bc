// Sync full without blocking the event loop: SQLite runs with synchronous=NORMAL (a COMMIT writes
// the WAL but does not fsync it) and this fdatasyncs the WAL file on a thread-pool thread; group
// commit acknowledges a group only after such a sync that started after its COMMIT. That is what
// synchronous=FULL does inside COMMIT (an fsync of the WAL after the commit frames), moved off the
// event loop so the next groups are built and committed while the disk works.

import { closeSync, fdatasync, openSync } from "node:fs";
import { FAULT_POINTS, faultPoint } from "./kill-points.ts";

export class WalSync {
  private fd: number | null = null;

  constructor(private readonly walPath: string) {}

  /** fdatasync of the WAL; the file exists once the first COMMIT wrote it, so it is opened then. */
  sync(done: (err: Error | null) => void): void {
    try {
      // SQLite keeps the WAL file (same inode) while the database is open: checkpoints truncate
      // or overwrite it, never replace it, so one descriptor serves the store's whole life.
      this.fd ??= openSync(this.walPath, "r");
    } catch (err) {
      done(err as Error);
      return;
    }
    if (faultPoint(FAULT_POINTS.walFsync)) {
      done(Object.assign(new Error("EIO: i/o error, fdatasync (injected by TQ_TEST_FAIL_AT)"), { code: "EIO", errno: -5, syscall: "fdatasync" }));
      return;
    }
    fdatasync(this.fd, (err) => done(err ?? null));
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}
