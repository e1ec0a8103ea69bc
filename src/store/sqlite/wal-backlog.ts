// How much of the WAL no checkpoint has copied yet, read from SQLite's wal-index (the -shm file)
// after a commit. The WAL file's size cannot tell: after a complete checkpoint the next writer
// restarts the WAL from its beginning without shrinking the file, so its size stays above any
// threshold and a size-based trigger fires after every commit. Reads only; never writes the index.
//
// Layout (https://www.sqlite.org/walformat.html, native byte order): the wal-index header holds
// the page size (u16 at byte 14, 1 meaning 65536) and mxFrame, the last valid frame (u32 at byte
// 16); the checkpoint info after the two 48-byte header copies starts with nBackfill, the frames
// already copied into the database (u32 at byte 96).

import { closeSync, openSync, readSync } from "node:fs";
import { endianness } from "node:os";

const HEADER_BYTES = 100;
const FRAME_HEADER_BYTES = 24;
const LITTLE_ENDIAN = endianness() === "LE";

export class WalBacklog {
  private fd: number | null = null;
  private readonly buf = new Uint8Array(HEADER_BYTES);
  private readonly view = new DataView(this.buf.buffer);

  constructor(private readonly shmPath: string) {}

  /** Bytes of WAL frames not yet copied into the database; null when the index cannot be read. */
  uncopiedBytes(): number | null {
    try {
      this.fd ??= openSync(this.shmPath, "r");
      if (readSync(this.fd, this.buf, 0, HEADER_BYTES, 0) < HEADER_BYTES) return null;
    } catch {
      return null;
    }
    const szPage = this.view.getUint16(14, LITTLE_ENDIAN);
    const pageBytes = szPage === 1 ? 65536 : szPage;
    const mxFrame = this.view.getUint32(16, LITTLE_ENDIAN);
    const nBackfill = this.view.getUint32(96, LITTLE_ENDIAN);
    return Math.max(0, mxFrame - nBackfill) * (pageBytes + FRAME_HEADER_BYTES);
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}
