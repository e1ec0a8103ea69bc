// Replays a stalled fuzz connection (the .bin file the codec fuzzer names in its failure) against
// a fresh broker on a temp dir, and says whether it stalls again and on which request.
// Usage: bun test/chaos/replay-stall.ts <file.bin> [stall ms, default 30000]

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchBroker, reap } from "./lib/broker-proc.ts";
import { fuzzOne, unanswered } from "./lib/codec-fuzz.ts";

const [file, stallArg] = process.argv.slice(2);
if (file === undefined) throw new Error("usage: replay-stall.ts <file.bin> [stall ms]");
const bytes = new Uint8Array(readFileSync(file));
// Split the dump back into frames by their length prefixes (the last one may be cut short).
const parts: Uint8Array[] = [];
for (let at = 0; at + 4 <= bytes.length && parts.length < 100_000; ) {
  const length = new DataView(bytes.buffer, bytes.byteOffset + at).getUint32(0);
  parts.push(bytes.subarray(at, Math.min(bytes.length, at + 4 + length)));
  at += 4 + length;
}
const dataDir = mkdtempSync(join(tmpdir(), "tq-chaos-replay-"));
const broker = launchBroker({ dataDir, env: { TQ_PERSISTENCE_SYNC: "interval" } });
try {
  const port = await broker.listening();
  const { outcome, answered, unsentBytes } = await fuzzOne(port, bytes, true, Number(stallArg ?? 30_000), () => {});
  process.stdout.write(`${parts.length} frames: ${outcome}${outcome === "stall" ? `; ${unsentBytes} bytes unsent; waiting on: ${unanswered(parts, answered).text}` : ""}\n`);
} finally {
  await reap(broker);
  rmSync(dataDir, { recursive: true, force: true });
}
