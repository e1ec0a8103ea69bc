// The CLI's stdout and stderr writers, which remember their last write so that the process can
// wait for everything to reach a slow pipe before it exits. Knows nothing of commands.

/**
 * Bun's process.stdout.write on a pipe keeps what the reader has not taken yet in its own buffer
 * (writableLength stays 0, "drain" does not help), and process.exit() drops that buffer: a 730 KB
 * `tasks list --json | (sleep 0.2; wc -c)` printed 64 KiB. A write's callback runs once its bytes
 * are written, and callbacks run in write order, so the last one marks the stream as flushed.
 */
export class FlushingWriter {
  private last: Promise<void> = Promise.resolve();
  private broken = false;

  constructor(private readonly stream: NodeJS.WriteStream) {
    // A reader that went away (`| head -1`) makes later writes fail with EPIPE: stop writing,
    // never crash on the error event.
    stream.on("error", () => {
      this.broken = true;
    });
  }

  write(text: string): void {
    if (this.broken) return;
    this.last = new Promise((resolve) => {
      this.stream.write(text, () => resolve());
    });
  }

  /** Resolves once every write so far has been handed to the OS (or failed). */
  flushed(): Promise<void> {
    return this.last;
  }
}

export const stdout = new FlushingWriter(process.stdout);
export const stderr = new FlushingWriter(process.stderr);

/** Waits for both streams; call before process.exit(). */
export async function flushStdio(): Promise<void> {
  await Promise.all([stdout.flushed(), stderr.flushed()]);
}
