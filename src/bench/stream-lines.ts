// Small stream and timing helpers shared by the bench's process wrappers: split a child's output
// into lines, bound a wait with a deadline. No process or protocol knowledge here.

/** Calls back with each line of a byte stream (newline removed) until the stream ends. */
export async function drainLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    // Only the new text can hold a newline: an agent's report is one line of megabytes.
    let from = buffered.length;
    buffered += decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let nl = buffered.indexOf("\n", from); nl !== -1; nl = buffered.indexOf("\n", from)) {
      onLine(buffered.slice(start, nl));
      start = nl + 1;
      from = start;
    }
    if (start > 0) buffered = buffered.slice(start);
  }
  if (buffered.length > 0) onLine(buffered);
}

/** The promise, or a rejection naming `what` once `ms` have passed. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

