// A stand-in for systemd's notification socket: a unix datagram socket bound by a python3 child
// (not by the broker's own code, which is what is under test) that reports every datagram it gets.
// Test-only; stops the child it started.

const RECEIVER = `
import json, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0" + path[1:] if path.startswith("@") else path)
print(json.dumps("bound"), flush=True)
while True:
    print(json.dumps(s.recv(4096).decode()), flush=True)
`;

export interface NotifyReceiver {
  /** Every datagram received so far, in order. */
  messages(): string[];
  /** Resolves once a datagram equal to `message` has arrived. */
  waitFor(message: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** `path` is a file path, or "@name" for an abstract socket, as NOTIFY_SOCKET names them. */
export async function startNotifyReceiver(path: string): Promise<NotifyReceiver> {
  const python = Bun.which("python3");
  if (python === null) throw new Error("python3 is needed on PATH to stand in for systemd's notify socket");
  const proc = Bun.spawn([python, "-c", RECEIVER, path], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  const received: string[] = [];
  let bound!: () => void;
  const isBound = new Promise<void>((resolve) => (bound = resolve));
  void (async () => {
    let buffered = "";
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) {
      buffered += decoder.decode(chunk, { stream: true });
      for (let nl = buffered.indexOf("\n"); nl !== -1; nl = buffered.indexOf("\n")) {
        const message = JSON.parse(buffered.slice(0, nl)) as string;
        buffered = buffered.slice(nl + 1);
        if (message === "bound") bound();
        else received.push(message);
      }
    }
  })();
  const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
  await Promise.race([isBound, proc.exited.then((code) => Promise.reject(new Error(`notify receiver exited ${code} before binding ${path}`)))]);
  clearTimeout(timer);

  return {
    messages: () => [...received],
    async waitFor(message, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!received.includes(message)) {
        if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(message)} datagram within ${timeoutMs} ms; got ${JSON.stringify(received)}`);
        await Bun.sleep(10);
      }
    },
    async stop() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}
