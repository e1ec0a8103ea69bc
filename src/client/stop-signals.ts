// Graceful stop on SIGTERM/SIGINT for a worker process: the first signal starts the stop, a second
// one skips the wait for running tasks, and once stopped the signal is raised again when nothing
// else listens, so the process ends as the signal intends. Process-wide; holds no worker state.

export type StopFn = (options?: { timeoutMs?: number }) => Promise<void>;

/** Installs the handlers; the returned function removes them (call it once the stop is over). */
export function stopOnSignals(stop: StopFn): () => void {
  let signalled = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (signalled) {
      // A second signal: the operator does not want to wait for the drain.
      void stop({ timeoutMs: 0 });
      return;
    }
    signalled = true;
    void stop().then(() => {
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
  return () => {
    process.off("SIGTERM", handler);
    process.off("SIGINT", handler);
  };
}
