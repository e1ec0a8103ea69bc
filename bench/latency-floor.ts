// The latency floor of this machine for W4's shape, with no broker work in it: a producer process
// sends a 108-byte message on a fixed schedule (R/s for S s) to a relay process, which acks it
// and forwards it to a worker process, which acks it back; the worker records send → arrival.
// Three Bun processes and two loopback hops, as in `bench --workload W4`, but the relay does
// nothing a broker does (no decode, no SQLite, no commit). Prints p50/p90/p99/p99.9/max in ms.
// Usage: bun bench/latency-floor.ts [--rate 1000] [--seconds 10] [--runs 5]

import type { Socket } from "bun";

const MESSAGE_BYTES = 108;
const ACK = new Uint8Array(30);

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const nowMs = (): number => performance.timeOrigin + performance.now();

/** Calls `onMessage` for every whole fixed-size message in the stream. */
function fixedFramer(onMessage: (m: Uint8Array) => void): (chunk: Uint8Array) => void {
  let held = new Uint8Array(0);
  return (chunk) => {
    const all = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
    let at = 0;
    for (; at + MESSAGE_BYTES <= all.length; at += MESSAGE_BYTES) onMessage(all.subarray(at, at + MESSAGE_BYTES));
    held = all.slice(at);
  };
}

async function relay(): Promise<void> {
  let worker: Socket<undefined> | null = null;
  const server = Bun.listen<{ role: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.setNoDelay(true);
        s.data = { role: "" };
      },
      data(s, chunk) {
        if (s.data.role === "") {
          s.data.role = chunk[0] === 1 ? "producer" : "worker";
          if (s.data.role === "worker") worker = s as unknown as Socket<undefined>;
          chunk = chunk.subarray(1);
        }
        // Producer messages are forwarded whole; worker acks are read and dropped.
        if (s.data.role === "producer" && chunk.length > 0) {
          worker?.write(chunk);
          s.write(ACK);
        }
      },
    },
  });
  process.stdout.write(`${server.port}\n`);
  await new Promise(() => {});
}

async function worker(port: number, count: number): Promise<void> {
  const latencies: number[] = [];
  let finish: () => void = () => {};
  const done = new Promise<void>((r) => (finish = r));
  const onMessage = (m: Uint8Array): void => {
    latencies.push(nowMs() - new DataView(m.buffer, m.byteOffset, 8).getFloat64(0));
    socket.write(ACK);
    if (latencies.length === count) finish();
  };
  const framer = fixedFramer(onMessage);
  const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, chunk) => framer(chunk) } });
  socket.setNoDelay(true);
  socket.write(new Uint8Array([2]));
  process.stdout.write("ready\n");
  await Promise.race([done, Bun.sleep(60_000)]);
  process.stdout.write(`${JSON.stringify(latencies)}\n`);
  process.exit(0);
}

async function producer(port: number, rate: number, count: number): Promise<void> {
  const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: () => {} } });
  socket.setNoDelay(true);
  socket.write(new Uint8Array([1]));
  await Bun.sleep(100);
  const start = nowMs();
  const message = new Uint8Array(MESSAGE_BYTES);
  const view = new DataView(message.buffer);
  // Open loop on a fixed schedule, as the W4 producer.
  for (let i = 0; i < count; i++) {
    const aheadMs = start + i * (1000 / rate) - nowMs();
    if (aheadMs > 0) await Bun.sleep(aheadMs);
    view.setFloat64(0, nowMs());
    socket.write(message);
  }
  await Bun.sleep(200);
  process.exit(0);
}

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<{ line: string; rest: () => Promise<string> }> {
  const reader = stream.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  const line = text.slice(0, text.indexOf("\n"));
  const rest = async (): Promise<string> => {
    let more = text.slice(text.indexOf("\n") + 1);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return more;
      more += new TextDecoder().decode(value);
    }
  };
  return { line, rest };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function oneRun(rate: number, seconds: number): Promise<number[]> {
  const self = [process.execPath, import.meta.path];
  const count = rate * seconds;
  const r = Bun.spawn([...self, "--role", "relay"], { stdout: "pipe" });
  try {
    const port = Number((await firstLine(r.stdout)).line);
    const w = Bun.spawn([...self, "--role", "worker", "--port", String(port), "--count", String(count)], { stdout: "pipe" });
    const wOut = await firstLine(w.stdout);
    const p = Bun.spawn([...self, "--role", "producer", "--port", String(port), "--rate", String(rate), "--count", String(count)]);
    const latencies = JSON.parse((await wOut.rest()).trim()) as number[];
    await p.exited;
    return latencies.sort((a, b) => a - b);
  } finally {
    r.kill();
  }
}

const role = process.argv[process.argv.indexOf("--role") + 1];
if (process.argv.includes("--role") && role === "relay") await relay();
else if (process.argv.includes("--role") && role === "worker") await worker(arg("port", 0), arg("count", 0));
else if (process.argv.includes("--role") && role === "producer") await producer(arg("port", 0), arg("rate", 1000), arg("count", 0));
else {
  const rate = arg("rate", 1000);
  const seconds = arg("seconds", 10);
  const runs = arg("runs", 5);
  const rows: number[][] = [];
  for (let i = 0; i < runs; i++) {
    const sorted = await oneRun(rate, seconds);
    const row = [0.5, 0.9, 0.99, 0.999].map((p) => percentile(sorted, p)).concat(sorted.at(-1)!);
    rows.push(row);
    process.stdout.write(`run ${i + 1}: ${sorted.length} messages; p50 ${row[0]!.toFixed(3)} p90 ${row[1]!.toFixed(3)} p99 ${row[2]!.toFixed(3)} p99.9 ${row[3]!.toFixed(3)} max ${row[4]!.toFixed(3)} ms\n`);
  }
  const median = (k: number): string => rows.map((r) => r[k]!).sort((a, b) => a - b)[Math.floor(rows.length / 2)]!.toFixed(3);
  process.stdout.write(`median of ${runs}: p50 ${median(0)} p90 ${median(1)} p99 ${median(2)} p99.9 ${median(3)} max ${median(4)} ms\n`);
}
