// Reads which OS, CPU and C library an executable was built for from its header (ELF or 64-bit
// Mach-O), so a test can check that each release archive holds the right platform's binary even
// where that binary cannot run. Test-only; reads the first 64 KiB, never runs the file.

export interface ExecutableFormat {
  os: "linux" | "darwin";
  cpu: "x64" | "arm64";
  /** Linux only: the dynamic loader it asks for (ld-linux = glibc, ld-musl = musl). */
  libc: "glibc" | "musl" | null;
}

/** What each release platform's executable must be. */
export const EXPECTED_FORMAT: Readonly<Record<string, ExecutableFormat>> = {
  "linux-x64": { os: "linux", cpu: "x64", libc: "glibc" },
  "linux-x64-musl": { os: "linux", cpu: "x64", libc: "musl" },
  "linux-arm64": { os: "linux", cpu: "arm64", libc: "glibc" },
  "linux-arm64-musl": { os: "linux", cpu: "arm64", libc: "musl" },
  "darwin-x64": { os: "darwin", cpu: "x64", libc: null },
  "darwin-arm64": { os: "darwin", cpu: "arm64", libc: null },
};

const ELF_MACHINE: Record<number, ExecutableFormat["cpu"]> = { 0x3e: "x64", 0xb7: "arm64" };
const MACHO_CPU: Record<number, ExecutableFormat["cpu"]> = { 0x01000007: "x64", 0x0100000c: "arm64" };
const PT_INTERP = 3;

export async function describeExecutable(path: string): Promise<ExecutableFormat | string> {
  const head = new Uint8Array(await Bun.file(path).slice(0, 65536).arrayBuffer());
  const view = new DataView(head.buffer);
  if (view.getUint32(0, false) === 0x7f454c46) return describeElf(head, view);
  if (view.getUint32(0, true) === 0xfeedfacf) {
    const cpu = MACHO_CPU[view.getUint32(4, true)];
    return cpu === undefined ? `Mach-O with unknown cputype ${view.getUint32(4, true)}` : { os: "darwin", cpu, libc: null };
  }
  return "neither ELF nor 64-bit Mach-O";
}

function describeElf(head: Uint8Array, view: DataView): ExecutableFormat | string {
  if (head[4] !== 2 || head[5] !== 1) return "not a 64-bit little-endian ELF";
  const cpu = ELF_MACHINE[view.getUint16(18, true)];
  if (cpu === undefined) return `ELF with unknown e_machine ${view.getUint16(18, true)}`;
  const phoff = Number(view.getBigUint64(32, true));
  const phentsize = view.getUint16(54, true);
  const phnum = view.getUint16(56, true);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + phentsize > head.length) return "program headers beyond the first 64 KiB";
    if (view.getUint32(at, true) !== PT_INTERP) continue;
    const offset = Number(view.getBigUint64(at + 8, true));
    const size = Number(view.getBigUint64(at + 32, true));
    const interp = new TextDecoder().decode(head.subarray(offset, offset + size)).replace(/\0+$/, "");
    if (interp.includes("ld-musl")) return { os: "linux", cpu, libc: "musl" };
    if (interp.includes("ld-linux")) return { os: "linux", cpu, libc: "glibc" };
    return `ELF asking for an unknown loader ${interp}`;
  }
  return "ELF without a dynamic loader (static)";
}
